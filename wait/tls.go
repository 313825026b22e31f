package wait

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TLSStrategy waits until a published port completes a TLS handshake whose certificate
// verifies. See ForTLS.
type TLSStrategy struct {
	port       string
	roots      *x509.CertPool
	serverName string
	check      func(*x509.Certificate) error
	timeout    time.Duration
}

// ForTLS waits until the container's published TCP port port ("8443/tcp"; "8443" means
// tcp) completes a TLS handshake in which the server's certificate chain verifies
// against the system roots (see RootCAs) and is valid for the name the test reaches it
// by: Target.Host (normally the IP address 127.0.0.1, which the certificate must then
// list as an IP SAN) unless ServerName gives another. No application data is sent.
//
// Until the port accepts and the server answers a handshake the wait retries; a
// certificate that the server does serve but that does not verify (unknown authority,
// expired, another name) ends the wait at once with the verification error, since
// waiting longer rarely mends a certificate. Use Certificate for checks of its own.
func ForTLS(port string) *TLSStrategy { return &TLSStrategy{port: port} }

// RootCAs returns a copy of s that verifies the chain against pool (the test's own
// certificate authority) instead of the system roots.
func (s *TLSStrategy) RootCAs(pool *x509.CertPool) *TLSStrategy {
	c := *s
	c.roots = pool
	return &c
}

// ServerName returns a copy of s that sends name as SNI and wants the certificate
// valid for it ("db.internal"), instead of Target.Host.
func (s *TLSStrategy) ServerName(name string) *TLSStrategy {
	c := *s
	c.serverName = name
	return &c
}

// Certificate returns a copy of s that also hands the verified leaf certificate to
// check; an error from check ends the wait at once, wrapped.
func (s *TLSStrategy) Certificate(check func(leaf *x509.Certificate) error) *TLSStrategy {
	c := *s
	c.check = check
	return &c
}

// Timeout returns a copy of s with a deadline of its own.
func (s *TLSStrategy) Timeout(d time.Duration) *TLSStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "TLS certificate on 8443/tcp".
func (s *TLSStrategy) String() string {
	d := "TLS certificate on " + tcpPortName(s.port)
	if s.serverName != "" {
		d += " for " + s.serverName
	}
	return d
}

func (*TLSStrategy) selfDescribing() {}

// WaitUntilReady implements Strategy.
func (s *TLSStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if p := tcpPortName(s.port); p == "/tcp" || !strings.HasSuffix(p, "/tcp") {
		return fmt.Errorf("%s: TLS needs a TCP port, not %q", s, s.port)
	}
	hp, err := t.LookupPort(tcpPortName(s.port))
	if err != nil {
		return fmt.Errorf("%s: look up port: %w", s, err)
	}
	addr := net.JoinHostPort(t.Host(), strconv.Itoa(hp))
	name := s.serverName
	if name == "" {
		name = t.Host()
	}
	cfg := &tls.Config{RootCAs: s.roots, ServerName: name, MinVersion: tls.VersionTLS12}
	who := describeAt{s, addr}
	b := newBackoff(probePace)
	var last string
	for {
		leaf, err := handshake(ctx, addr, cfg)
		var verr *tls.CertificateVerificationError
		var uerr x509.UnknownAuthorityError
		var herr x509.HostnameError
		var cerr x509.CertificateInvalidError
		switch {
		case err == nil && s.check != nil:
			if cerr := s.check(leaf); cerr != nil {
				return fmt.Errorf("%s: certificate %q: %w", who, leaf.Subject.String(), cerr)
			}
			return nil
		case err == nil:
			return nil
		case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
			return fmt.Errorf("%s: verify certificate for %q: %w", who, name, err)
		}
		var rerr tls.RecordHeaderError
		if errors.As(err, &rerr) {
			return fmt.Errorf("%s: handshake: %w (the server does not speak TLS)", who, err)
		}
		if !over(ctx) || last == "" {
			last = describeErr(err)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, who, start, last)
		}
	}
}

// handshake dials addr, completes a TLS handshake and returns the verified leaf.
func handshake(ctx context.Context, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	hctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: cfg}
	c, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.(*tls.Conn).ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return nil, errors.New("the server sent no certificate")
	}
	return st.PeerCertificates[0], nil
}
