package wait_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// tlsServer starts an HTTPS test server (its certificate is valid for 127.0.0.1 and
// example.com) published as "8443/tcp" of f, and returns a pool that trusts it.
func tlsServer(t *testing.T, f *fakeTarget) *x509.CertPool {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	srv.Config.ErrorLog = nil
	f.ports["8443/tcp"] = srv.Listener.Addr().(*net.TCPAddr).Port
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

func TestForTLSVerifiesTheServedCertificate(t *testing.T) {
	f := newFake()
	pool := tlsServer(t, f)
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForTLS("8443").RootCAs(pool), long))
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForTLS("8443/tcp").RootCAs(pool).ServerName("example.com"), long))

	var subject string
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForTLS("8443").RootCAs(pool).Certificate(func(c *x509.Certificate) error {
		subject = c.Subject.String()
		return nil
	}), long))
	assert.Contains(t, subject, "Acme Co")
}

func TestForTLSFailsAtOnceOnACertificateThatDoesNotVerify(t *testing.T) {
	f := newFake()
	pool := tlsServer(t, f)
	for name, s := range map[string]*wait.TLSStrategy{
		"unknown authority": wait.ForTLS("8443"),
		"another name":      wait.ForTLS("8443").RootCAs(pool).ServerName("db.internal"),
	} {
		t.Run(name, func(t *testing.T) {
			err := wait.Ready(t.Context(), f, s, long) // returns long before the deadline
			require.Error(t, err)
			assert.NotErrorIs(t, err, wait.ErrExited)
			assert.Contains(t, err.Error(), "verify certificate for")
			var verr *tls.CertificateVerificationError
			assert.True(t, errors.As(err, &verr), "the verification error is wrapped")
		})
	}
	refused := errors.New("refused")
	err := wait.Ready(t.Context(), f, wait.ForTLS("8443").RootCAs(pool).Certificate(func(*x509.Certificate) error { return refused }), long)
	require.ErrorIs(t, err, refused)
}

func TestForTLSRetriesUntilTheServerAnswers(t *testing.T) {
	f := newFake()
	// A port that accepts and closes, as the engine's proxy does with nothing behind it.
	proxy := newTestServer(t, false)
	f.ports["8443/tcp"] = proxy.port()
	err := wait.Ready(t.Context(), f, wait.ForTLS("8443"), 300*time.Millisecond)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "timed out after")
	assert.Contains(t, err.Error(), "connection closed at once")

	// A server that starts listening later is seen.
	pool, certPEM, keyPEM := testCA(t)
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.ports["8443/tcp"] = ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	done := make(chan error, 1)
	go func() { done <- wait.Ready(t.Context(), f, wait.ForTLS("8443").RootCAs(pool), long) }()
	time.Sleep(100 * time.Millisecond)
	requirePending(t, done, "nothing listens yet")
	srv.Listener, err = net.Listen("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv.StartTLS()
	defer srv.Close()
	require.NoError(t, <-done)
}

func TestForTLSBadInput(t *testing.T) {
	f := newFake()
	f.ports["53/udp"] = 1
	err := wait.Ready(t.Context(), f, wait.ForTLS("53/udp"), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `TLS needs a TCP port, not "53/udp"`)

	err = wait.Ready(t.Context(), f, wait.ForTLS("9999"), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "look up port")

	// A plain TCP server that answers with something other than TLS.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	f.ports["8443/tcp"] = plain.Listener.Addr().(*net.TCPAddr).Port
	err = wait.Ready(t.Context(), f, wait.ForTLS("8443"), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not speak TLS")
}
