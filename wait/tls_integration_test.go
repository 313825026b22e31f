package wait_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/wait"
)

// testCA makes a certificate authority and a server certificate it signed, valid for
// the host at which published ports are reached (127.0.0.1 on the host, the network's
// gateway for tests in a container) and "db.internal", and returns the pool trusting
// the authority and the server's certificate and key in PEM.
func testCA(t *testing.T) (*x509.CertPool, string, string) {
	t.Helper()
	host := testimages.Engine(t).Host
	ips, names := []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"db.internal"}
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else {
		names = append(names, host)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "containertest test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "db.internal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool,
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

func tlsServerSpec(t *testing.T) (containers.Spec, *x509.CertPool) {
	t.Helper()
	containers.RequireDocker(t)
	pool, cert, key := testCA(t)
	return containers.Image(testimages.GoProgram(t, "testdata/tlsserver")).
		Env("CERT_PEM", cert).Env("KEY_PEM", key).Expose("8080/tcp", "8443/tcp"), pool
}

func TestIntegrationForTLS(t *testing.T) {
	t.Parallel()
	spec, pool := tlsServerSpec(t)
	t.Run("verifies", func(t *testing.T) {
		t.Parallel()
		spec.WaitFor(wait.ForTLS("8443").RootCAs(pool), wait.ForTLS("8443").RootCAs(pool).ServerName("db.internal")).Start(t)
	})
	t.Run("unknown authority", func(t *testing.T) {
		t.Parallel()
		_, err := spec.WaitFor(wait.ForTLS("8443")).StartTimeout(forever).Run(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "verify certificate for \""+testimages.Engine(t).Host+"\"")
		assert.Contains(t, err.Error(), "unknown authority")
	})
	t.Run("another name", func(t *testing.T) {
		t.Parallel()
		_, err := spec.WaitFor(wait.ForTLS("8443").RootCAs(pool).ServerName("cache.internal")).StartTimeout(forever).Run(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cache.internal")
	})
}

func TestIntegrationForHTTPPostWithAuthAndHeader(t *testing.T) {
	t.Parallel()
	spec, pool := tlsServerSpec(t)
	login := wait.ForHTTP("/login").Port("8080").Method(http.MethodPost).RequestBody([]byte("hello")).
		BasicAuth("admin", "secret").ResponseHeader("X-Ready", "yes").Body("welcome")
	// The same endpoint over HTTPS, through a client that trusts the test's authority.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	spec.WaitFor(login, login.Port("8443").TLS().Client(client)).Start(t)

	_, err := spec.WaitFor(login.BasicAuth("admin", "wrong")).StartTimeout(2 * time.Second).Run(t.Context())
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "HTTP 401")
}
