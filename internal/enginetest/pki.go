// Package enginetest holds test helpers that put this machine's engine behind the
// transports a remote engine uses: a TLS-terminating proxy with mutual TLS and the
// certificates for it. The CI stages and the engine package's tests use them; they
// never listen on anything but the loopback address they are given.
package enginetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// A PKI is a certificate authority with one server and one client certificate, written
// to Dir in the layout of DOCKER_CERT_PATH: ca.pem, cert.pem and key.pem (the client's),
// plus server.pem and server-key.pem for the engine side.
type PKI struct {
	// Dir holds the PEM files.
	Dir string
	// Pool holds the CA certificate alone.
	Pool *x509.CertPool
	// Server is the server's key pair, valid for 127.0.0.1, ::1 and localhost.
	Server tls.Certificate
}

// NewPKI generates a fresh CA (named cn), a server and a client certificate valid for
// a day, and writes them into dir, which must exist.
func NewPKI(dir, cn string) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse ca certificate: %w", err)
	}
	issue := func(serial int64, name string, usage x509.ExtKeyUsage, server bool) (der, key []byte, err error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("generate %s key: %w", name, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("create %s certificate: %w", name, err)
		}
		key, err = x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("marshal %s key: %w", name, err)
		}
		return der, key, nil
	}
	serverDER, serverKey, err := issue(2, "engine", x509.ExtKeyUsageServerAuth, true)
	if err != nil {
		return nil, err
	}
	clientDER, clientKey, err := issue(3, "containertest client", x509.ExtKeyUsageClientAuth, false)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{
		{"ca.pem", "CERTIFICATE", caDER},
		{"cert.pem", "CERTIFICATE", clientDER},
		{"key.pem", "EC PRIVATE KEY", clientKey},
		{"server.pem", "CERTIFICATE", serverDER},
		{"server-key.pem", "EC PRIVATE KEY", serverKey},
	} {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	server, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("load server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PKI{Dir: dir, Pool: pool, Server: server}, nil
}

// ServerConfig is the engine side of mutual TLS, as dockerd --tlsverify sets it up:
// the server certificate, and client certificates required and checked against clients.
func ServerConfig(server tls.Certificate, clients *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS12,
	}
}
