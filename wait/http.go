package wait

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPStrategy waits until an HTTP endpoint of the container answers as expected.
// See ForHTTP. Its methods return changed copies, so a strategy can be shared.
type HTTPStrategy struct {
	path       string
	port       string
	method     string
	header     http.Header
	status     func(int) bool
	statusDesc string
	body       func([]byte) bool
	bodyDesc   string
	tls        bool
	insecure   bool
	tlsConfig  *tls.Config
	timeout    time.Duration
}

// ForHTTP waits until a GET of path (e.g. "/health") on the container's published port
// answers with a 2xx status. The first request goes out at once, later ones after a few
// milliseconds, growing, so the endpoint is asked as soon as the port accepts. Redirects
// are not followed: a 3xx is the answer. The port defaults to the first one the target
// publishes (see PortLister); set it with Port.
func ForHTTP(path string) *HTTPStrategy {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return &HTTPStrategy{path: path, method: http.MethodGet}
}

func (s *HTTPStrategy) clone() *HTTPStrategy {
	c := *s
	c.header = s.header.Clone()
	return &c
}

// Port returns a copy of s that asks the container port port ("8080/tcp" or "8080").
func (s *HTTPStrategy) Port(port string) *HTTPStrategy {
	c := s.clone()
	c.port = port
	return c
}

// Method returns a copy of s that sends method instead of GET (with an empty body).
func (s *HTTPStrategy) Method(method string) *HTTPStrategy {
	c := s.clone()
	c.method = method
	return c
}

// Header returns a copy of s that adds a request header. Setting "Host" sets the
// request's host.
func (s *HTTPStrategy) Header(key, value string) *HTTPStrategy {
	c := s.clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Add(key, value)
	return c
}

// Status returns a copy of s that wants exactly the status code code.
func (s *HTTPStrategy) Status(code int) *HTTPStrategy {
	c := s.clone()
	c.status = func(got int) bool { return got == code }
	c.statusDesc = strconv.Itoa(code)
	return c
}

// StatusFunc returns a copy of s that accepts the status codes for which ok is true.
func (s *HTTPStrategy) StatusFunc(ok func(code int) bool) *HTTPStrategy {
	c := s.clone()
	c.status = ok
	c.statusDesc = "a status accepted by StatusFunc"
	return c
}

// Body returns a copy of s that also wants substring in the response body.
func (s *HTTPStrategy) Body(substring string) *HTTPStrategy {
	c := s.clone()
	c.body = func(b []byte) bool { return bytes.Contains(b, []byte(substring)) }
	c.bodyDesc = "containing " + strconv.Quote(substring)
	return c
}

// BodyFunc returns a copy of s that also wants ok to accept the response body (its
// first MiB).
func (s *HTTPStrategy) BodyFunc(ok func(body []byte) bool) *HTTPStrategy {
	c := s.clone()
	c.body = ok
	c.bodyDesc = "accepted by BodyFunc"
	return c
}

// TLS returns a copy of s that speaks HTTPS, verifying the server's certificate
// against the system roots (see Insecure and TLSConfig for test certificates).
func (s *HTTPStrategy) TLS() *HTTPStrategy {
	c := s.clone()
	c.tls = true
	return c
}

// Insecure returns a copy of s that speaks HTTPS without verifying the server's
// certificate: for self-signed certificates made by the container.
func (s *HTTPStrategy) Insecure() *HTTPStrategy {
	c := s.clone()
	c.tls = true
	c.insecure = true
	return c
}

// TLSConfig returns a copy of s that speaks HTTPS with cfg, for instance with RootCAs
// holding the test's own certificate authority. cfg is cloned when the wait starts.
func (s *HTTPStrategy) TLSConfig(cfg *tls.Config) *HTTPStrategy {
	c := s.clone()
	c.tls = true
	c.tlsConfig = cfg
	return c
}

// Timeout returns a copy of s with a deadline of its own.
func (s *HTTPStrategy) Timeout(d time.Duration) *HTTPStrategy {
	c := s.clone()
	c.timeout = d
	return c
}

// String describes the strategy for messages: "HTTP GET /health on 8080/tcp".
func (s *HTTPStrategy) String() string {
	var b strings.Builder
	if s.tls {
		b.WriteString("HTTPS ")
	} else {
		b.WriteString("HTTP ")
	}
	b.WriteString(s.method + " " + s.path)
	if s.port != "" {
		b.WriteString(" on " + s.port)
	}
	return b.String()
}

// maxBody bounds how much of a response body is read and checked.
const maxBody = 1 << 20

// attemptTimeout bounds one request, so that a server that hangs while it starts does
// not use up the whole wait.
const attemptTimeout = 5 * time.Second

// WaitUntilReady implements Strategy.
func (s *HTTPStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	port := s.port
	if port == "" {
		if pl, ok := t.(PortLister); ok {
			if ps := pl.ExposedPorts(); len(ps) > 0 {
				port = ps[0]
			}
		}
		if port == "" {
			return fmt.Errorf("%s: choose port: the container publishes none; set one with Port", s)
		}
	}
	hp, err := t.LookupPort(port)
	if err != nil {
		return fmt.Errorf("%s: look up port: %w", s, err)
	}
	scheme := "http"
	tr := &http.Transport{
		// Test traffic goes straight to the container, never through HTTP_PROXY.
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: time.Second}).DialContext,
		DisableKeepAlives: true,
	}
	if s.tls {
		scheme = "https"
		cfg := &tls.Config{}
		if s.tlsConfig != nil {
			cfg = s.tlsConfig.Clone()
		}
		if s.insecure {
			cfg.InsecureSkipVerify = true
		}
		tr.TLSClientConfig = cfg
		tr.ForceAttemptHTTP2 = true
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := scheme + "://" + net.JoinHostPort(t.Host(), strconv.Itoa(hp)) + s.path
	who := describeAt{s, url}

	b := newBackoff(probePace)
	var last string
	for {
		saw, err := s.attempt(ctx, client, url)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if saw == "" {
			return nil
		}
		// A request cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last = saw
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, who, start, last)
		}
	}
}

// attempt sends one request. It returns "" when the answer is the one wanted, else what
// it saw; err is for failures that retrying cannot mend (a certificate that does not
// verify, TLS spoken to a plain HTTP server).
func (s *HTTPStrategy) attempt(ctx context.Context, client *http.Client, url string) (last string, err error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, s.method, url, nil)
	if err != nil {
		return "", fmt.Errorf("make request: %w", err)
	}
	for k, vs := range s.header {
		if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
			req.Host = vs[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	resp, err := client.Do(req)
	if err != nil {
		var verr *tls.CertificateVerificationError
		var uerr x509.UnknownAuthorityError
		var herr x509.HostnameError
		var rerr tls.RecordHeaderError
		switch {
		case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr):
			return "", fmt.Errorf("verify certificate: %w (use Insecure or TLSConfig for a test certificate)", err)
		case errors.As(err, &rerr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			return "", fmt.Errorf("handshake: %w (the server does not speak TLS)", err)
		}
		return describeErr(err), nil
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	statusOK := s.status != nil && s.status(resp.StatusCode) ||
		s.status == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
	if !statusOK {
		want := s.statusDesc
		if want == "" {
			want = "2xx"
		}
		return fmt.Sprintf("HTTP %d, want %s%s", resp.StatusCode, want, bodyHint(body)), nil
	}
	if s.body == nil {
		return "", nil
	}
	if rerr != nil {
		return fmt.Sprintf("HTTP %d, reading body: %s", resp.StatusCode, describeErr(rerr)), nil
	}
	if !s.body(body) {
		return fmt.Sprintf("HTTP %d with a body not %s%s", resp.StatusCode, s.bodyDesc, bodyHint(body)), nil
	}
	return "", nil
}

// bodyHint quotes the start of a response body for a message.
func bodyHint(body []byte) string {
	b := strings.Join(strings.Fields(string(body)), " ")
	if b == "" {
		return ""
	}
	if len(b) > 120 {
		b = b[:120] + "…"
	}
	return ": " + strconv.Quote(b)
}
