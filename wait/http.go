package wait

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containertest/containertest/internal/waitwire"
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

	reqBody    []byte
	hasBody    bool
	user, pass string
	hasAuth    bool
	respHeader func(http.Header) bool
	respDesc   string
	client     *http.Client
	bad        error // a bad option, reported when the wait starts
}

// ForHTTP waits until a GET of path (e.g. "/health") on the container's published port
// answers with a 2xx status. The first request goes out at once, later ones after a few
// milliseconds, growing, so the endpoint is asked as soon as the port accepts. Redirects
// are not followed: a 3xx is the answer. The port defaults to the first TCP port the
// target publishes (a framework container knows them); set it with Port. HTTP needs a TCP port: a wait
// without one fails at once.
//
// When the target can read the container's socket table (a framework container on a local engine), a server that
// listens only where the published port does not reach, such as 127.0.0.1 inside the
// container, is reported as ForPort reports it, and ends the wait as early.
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

// Method returns a copy of s that sends method instead of GET (with an empty body
// unless RequestBody gives one).
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

// RequestBody returns a copy of s that sends body with each request (a fresh reader
// every time), for endpoints that want a POST: combine it with Method("POST") and a
// Content-Type Header. An empty body is sent as Content-Length: 0.
func (s *HTTPStrategy) RequestBody(body []byte) *HTTPStrategy {
	c := s.clone()
	c.reqBody = bytes.Clone(body)
	c.hasBody = true
	return c
}

// BasicAuth returns a copy of s that sends HTTP basic authentication (RFC 7617). A user
// name that contains a colon cannot be sent that way: the wait then fails at once,
// naming it.
func (s *HTTPStrategy) BasicAuth(user, password string) *HTTPStrategy {
	c := s.clone()
	c.user, c.pass, c.hasAuth = user, password, true
	if strings.Contains(user, ":") && c.bad == nil {
		c.bad = fmt.Errorf("basic auth user %q contains a colon, which basic authentication cannot carry", user)
	}
	return c
}

// ResponseHeader returns a copy of s that also wants the response header key to hold
// value (one of its values, compared exactly). An empty key fails the wait at once.
func (s *HTTPStrategy) ResponseHeader(key, value string) *HTTPStrategy {
	c := s.clone()
	if strings.TrimSpace(key) == "" && c.bad == nil {
		c.bad = errors.New("ResponseHeader: empty header name")
	}
	k := http.CanonicalHeaderKey(key)
	c.respHeader = func(h http.Header) bool { return slices.Contains(h.Values(k), value) }
	c.respDesc = fmt.Sprintf("header %s: %q", k, value)
	return c
}

// ResponseHeaderFunc returns a copy of s that also wants ok to accept the response's
// headers.
func (s *HTTPStrategy) ResponseHeaderFunc(ok func(http.Header) bool) *HTTPStrategy {
	c := s.clone()
	c.respHeader = ok
	c.respDesc = "headers accepted by ResponseHeaderFunc"
	return c
}

// Client returns a copy of s that sends its requests with client instead of its own (a
// client with the test's proxy settings, cookie jar, transport or certificates). The
// client is used as it is: its Transport's TLS settings, its CheckRedirect (nil follows
// redirects) and its Timeout apply, and TLS only chooses the https scheme; Insecure and
// TLSConfig, which configure the strategy's own transport, cannot be combined with it and
// fail the wait at once. Each request still has a deadline of its own (5 s) and the
// wait's.
func (s *HTTPStrategy) Client(client *http.Client) *HTTPStrategy {
	c := s.clone()
	c.client = client
	if client == nil && c.bad == nil {
		c.bad = errors.New("Client: nil *http.Client")
	}
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
	if s.bad != nil {
		return fmt.Errorf("%s: %w", s, s.bad)
	}
	if s.client != nil && (s.insecure || s.tlsConfig != nil) {
		return fmt.Errorf("%s: Client cannot be combined with Insecure or TLSConfig: configure TLS on the client's Transport", s)
	}
	port := s.port
	if port == "" {
		var ps []string
		if pl, ok := framework(t).(waitwire.PortLister); ok {
			ps = pl.ExposedPorts()
		}
		for _, p := range ps {
			if strings.HasSuffix(tcpPortName(p), "/tcp") {
				port = p
				break
			}
		}
		switch {
		case port == "" && len(ps) > 0:
			return fmt.Errorf("%s: choose port: HTTP needs a TCP port and the container publishes none (only %s); expose one and set it with Port",
				s, strings.Join(ps, ", "))
		case port == "":
			return fmt.Errorf("%s: choose port: the container publishes none; set one with Port", s)
		}
	}
	if p := tcpPortName(port); !strings.HasSuffix(p, "/tcp") {
		return fmt.Errorf("%s: HTTP needs a TCP port, not %s; set a TCP one with Port", s, p)
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
	if s.client != nil {
		client = s.client
	}
	url := scheme + "://" + net.JoinHostPort(t.Host(), strconv.Itoa(hp)) + s.path
	who := describeAt{s, url}
	lt, _ := framework(t).(waitwire.Listening)
	watch := reachWatch{port: tcpPortName(port)}

	b := newBackoff(probePace)
	var last string
	var lastErr error
	for {
		saw, answered, err := s.attempt(ctx, client, url)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if saw == "" {
			return nil
		}
		var sawErr error
		if lt != nil && !answered {
			// Nobody answered: the socket table may say why.
			if sawErr = watch.check(lt.Listeners(port)); sawErr != nil {
				saw = sawErr.Error()
			}
		} else {
			watch.reset()
		}
		// A request cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last, lastErr = saw, sawErr
		}
		if watch.over() {
			return watch.giveUp(who, start, lastErr)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReadyBecause(ctx, who, start, last, lastErr)
		}
	}
}

// attempt sends one request. It returns "" when the answer is the one wanted, else what
// it saw, and whether the server answered at all; err is for failures that retrying
// cannot mend (a certificate that does not verify, TLS spoken to a plain HTTP server).
func (s *HTTPStrategy) attempt(ctx context.Context, client *http.Client, url string) (last string, answered bool, err error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var reqBody io.Reader
	if s.hasBody {
		reqBody = bytes.NewReader(s.reqBody)
	}
	req, err := http.NewRequestWithContext(actx, s.method, url, reqBody)
	if err != nil {
		return "", false, fmt.Errorf("make request: %w", err)
	}
	if s.hasAuth {
		req.SetBasicAuth(s.user, s.pass)
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
			return "", false, fmt.Errorf("verify certificate: %w (use Insecure or TLSConfig for a test certificate)", err)
		case errors.As(err, &rerr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			return "", false, fmt.Errorf("handshake: %w (the server does not speak TLS)", err)
		}
		return describeErr(err), false, nil
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
		return fmt.Sprintf("HTTP %d, want %s%s", resp.StatusCode, want, bodyHint(body)), true, nil
	}
	if s.respHeader != nil && !s.respHeader(resp.Header) {
		return fmt.Sprintf("HTTP %d without %s%s", resp.StatusCode, s.respDesc, headerHint(resp.Header)), true, nil
	}
	if s.body == nil {
		return "", true, nil
	}
	if rerr != nil {
		return fmt.Sprintf("HTTP %d, reading body: %s", resp.StatusCode, describeErr(rerr)), true, nil
	}
	if !s.body(body) {
		return fmt.Sprintf("HTTP %d with a body not %s%s", resp.StatusCode, s.bodyDesc, bodyHint(body)), true, nil
	}
	return "", true, nil
}

// headerHint lists the names of a response's headers for a message.
func headerHint(h http.Header) string {
	if len(h) == 0 {
		return " (no headers)"
	}
	names := slices.Sorted(maps.Keys(h))
	return " (headers: " + strings.Join(names, ", ") + ")"
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
