// Package engine finds the Docker engine and holds the one client a process uses.
//
// Resolution order: DOCKER_HOST (unix, tcp with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH,
// ssh through `docker system dial-stdio`), the Docker CLI's current context, the default
// socket, the rootless socket. The first place that answers a single ping wins; the API
// version is negotiated from that ping. Where published ports are reached (Engine.Host)
// and bound (Engine.PublishIP) follows from the engine's address and, for a local
// engine, from whether this process runs in one of its containers.
package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
)

// ErrUnavailable is wrapped by every error that means no engine answered.
// The public packages re-export it as ErrDockerUnavailable.
var ErrUnavailable = errors.New("docker engine unavailable")

// Errors that say why a TLS engine and this client do not agree; each is wrapped into
// the ping error of the place tried, with the engine's own message after it.
var (
	// ErrClientCertRefused: the engine requires a client certificate signed by a CA it
	// trusts, and the one in DOCKER_CERT_PATH (or the context) is not, or there is none.
	ErrClientCertRefused = errors.New("the engine refused the client certificate (cert.pem and key.pem must be signed by a CA the engine trusts)")
	// ErrServerCertUntrusted: the engine's certificate is not signed by the CA in ca.pem.
	ErrServerCertUntrusted = errors.New("the engine's certificate is not signed by the CA in ca.pem")
	// ErrEngineWantsTLS: a plain-TCP client reached an engine that speaks only TLS.
	ErrEngineWantsTLS = errors.New("the engine speaks TLS and this client does not: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)")
	// ErrEngineNoTLS: a TLS client reached an engine that speaks plain HTTP.
	ErrEngineNoTLS = errors.New("the engine does not speak TLS: unset DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, or use its TLS port")
)

// pingTimeout bounds the single ping per candidate.
const pingTimeout = 5 * time.Second

// An Engine is a connected Docker engine.
type Engine struct {
	// Client is the shared API client; safe for concurrent use.
	Client API
	// Addr is the engine address that answered, e.g. "unix:///var/run/docker.sock".
	Addr string
	// Source says where Addr came from ("DOCKER_HOST", "default socket", ...).
	Source string
	// Host is where published ports are reached from this process ("127.0.0.1" for a
	// local engine). CONTAINERTEST_HOST overrides it.
	Host string
	// APIVersion is the negotiated API version.
	APIVersion string
	// Remote is true when the engine runs on another machine (tcp or ssh to a
	// non-loopback host): ports must then be published on all interfaces to be
	// reachable. It follows from the engine's address alone; CONTAINERTEST_HOST does
	// not change it.
	Remote bool
	// BindIP, when set, is the host address published ports bind to (see PublishIP).
	BindIP string
	// Container is the id of the engine's container this process runs in, "" on the
	// engine's host (or with a remote engine).
	Container string
}

// PublishIP is the host address to bind published ports to: BindIP when set, all
// interfaces for a remote engine, the loopback address otherwise.
func (e *Engine) PublishIP() string {
	switch {
	case e.BindIP != "":
		return e.BindIP
	case e.Remote:
		return "0.0.0.0"
	}
	return "127.0.0.1"
}

var (
	mu     sync.Mutex
	shared *Engine
	// lastErr caches a failed resolution for a short time so that many tests asking
	// HasDocker on a machine without an engine do not each wait for pings.
	lastErr   error
	lastErrAt time.Time
)

// Get returns the process's engine, connecting on first use.
// A failure wraps ErrUnavailable and names every place tried.
func Get(ctx context.Context) (*Engine, error) {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		return shared, nil
	}
	if lastErr != nil && time.Since(lastErrAt) < 2*time.Second {
		return nil, lastErr
	}
	e, err := Connect(ctx, EnvironFromOS())
	if err != nil {
		lastErr, lastErrAt = err, time.Now()
		return nil, err
	}
	shared = e
	return e, nil
}

// Current returns the process's engine when Get has connected one, or nil; it never
// connects.
func Current() *Engine {
	mu.Lock()
	defer mu.Unlock()
	return shared
}

// Connect resolves the candidates of env in order and returns the first that answers a ping.
// Get is the shared, cached form; Connect always connects anew (tests use it directly).
func Connect(ctx context.Context, env Environ) (*Engine, error) {
	cands, err := Candidates(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var tried []string
	var causes []error
	for _, c := range cands {
		if c.Skip != "" {
			tried = append(tried, fmt.Sprintf("%s (%s): %s", c.Source, c.Host, c.Skip))
			continue
		}
		e, err := dial(ctx, c, env.ContainertestHost)
		if err == nil {
			return e, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s): %v", c.Source, c.Host, err))
		causes = append(causes, err)
		if ctx.Err() != nil {
			// The caller gave up: say so in a way errors.Is sees, and try nothing more.
			return nil, &unavailableError{
				msg:    fmt.Sprintf("%v: %v; tried:\n\t%s", ErrUnavailable, context.Cause(ctx), strings.Join(tried, "\n\t")),
				causes: append(causes, context.Cause(ctx)),
			}
		}
	}
	return nil, &unavailableError{
		msg:    fmt.Sprintf("%v; tried:\n\t%s", ErrUnavailable, strings.Join(tried, "\n\t")),
		causes: causes,
	}
}

// unavailableError is ErrUnavailable with every place tried: its text lists them, and
// errors.Is and errors.As see each place's error (ErrClientCertRefused, ...).
type unavailableError struct {
	msg    string
	causes []error
}

func (e *unavailableError) Error() string { return e.msg }

func (e *unavailableError) Unwrap() []error { return append([]error{ErrUnavailable}, e.causes...) }

// NewClient makes an API client for one candidate without contacting it.
func NewClient(c Candidate) (*client.Client, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if c.TLS != nil {
		tc, err := TLSConfig(*c.TLS)
		if err != nil {
			return nil, err
		}
		tr := &http.Transport{TLSClientConfig: tc}
		hc := &http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}
		opts = append(opts, client.WithHTTPClient(hc))
	}
	if strings.HasPrefix(c.Host, "ssh://") {
		addr := c.Host
		if _, err := sshArgs(addr); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSSH, err)
		}
		opts = append(opts, client.WithHost(sshHTTPHost), client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialSSH(ctx, addr)
		}))
	} else {
		opts = append(opts, client.WithHost(c.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", c.Host, err)
	}
	return cli, nil
}

// TLSConfig loads the client TLS configuration described by f.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	tc, err := tlsconfig.Client(tlsconfig.Options{
		CAFile:             f.CAFile,
		CertFile:           f.CertFile,
		KeyFile:            f.KeyFile,
		InsecureSkipVerify: !f.Verify,
		ExclusiveRootPools: true,
	})
	if err != nil {
		return nil, fmt.Errorf("load tls config: %w", err)
	}
	return tc, nil
}

func dial(ctx context.Context, c Candidate, hostOverride string) (*Engine, error) {
	cli, err := NewClient(c)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	p, err := cli.Ping(pctx)
	if err != nil {
		cli.Close()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("ping: %w", context.Cause(ctx))
		case pctx.Err() != nil:
			return nil, fmt.Errorf("ping: no answer within %v", pingTimeout)
		case client.IsErrConnectionFailed(err):
			// The client's message ("Cannot connect to the Docker daemon at ...") drops
			// the reason; a plain dial recovers it (refused, permission denied, ...).
			if derr := probe(ctx, c.Host); derr != nil {
				return nil, fmt.Errorf("ping: %w", derr)
			}
		}
		if why := tlsMismatch(err); why != nil {
			return nil, fmt.Errorf("ping: %w: %w", why, err)
		}
		return nil, fmt.Errorf("ping: %w", err)
	}
	cli.NegotiateAPIVersionPing(p)
	e := &Engine{
		Client:     cli,
		Addr:       c.Host,
		Source:     c.Source,
		Host:       HostFor(c.Host, ""),
		APIVersion: cli.ClientVersion(),
	}
	if strings.HasPrefix(c.Host, "ssh://") {
		// The address may name a Host alias of the ssh configuration: its ports are
		// on the host that alias connects to.
		if h := sshHostName(ctx, c.Host); h != "" {
			e.Host = HostFor("ssh://"+net.JoinHostPort(h, "22"), "")
		}
	}
	e.Remote = !isLoopback(e.Host)
	if !e.Remote {
		// A local engine's ports are on its host's loopback address, which a process
		// in one of its containers does not reach: find out whether this is one.
		if id := selfContainerID(readSelf()); id != "" {
			v, err := inspectSelf(pctx, cli, id)
			if err != nil {
				cli.Close()
				return nil, err
			}
			if v != nil {
				h, err := publishAddr(*v)
				if err == nil && hostOverride == "" {
					err = checkReach(ctx, h)
				}
				if err != nil {
					cli.Close()
					return nil, fmt.Errorf("in container: %w", err)
				}
				e.Host, e.BindIP, e.Container = h, h, v.ID
			}
		}
	}
	if hostOverride != "" {
		e.Host = hostOverride
		if ip := net.ParseIP(hostOverride); ip != nil && !e.Remote {
			// An address of the engine's host: publish there and nowhere else.
			e.BindIP = hostOverride
		}
	}
	return e, nil
}

// tlsMismatch classifies a failed ping between a client and an engine that disagree on
// TLS; nil when err is not that. crypto/tls exports no type for an alert the peer sent,
// so those are recognised by their text ("remote error: tls: ...").
func tlsMismatch(err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return ErrServerCertUntrusted
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return ErrServerCertUntrusted
	case strings.Contains(msg, "remote error: tls: certificate required"),
		strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: unknown certificate"):
		return ErrClientCertRefused
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"),
		strings.Contains(msg, "TLS-enabled daemon without TLS"):
		return ErrEngineWantsTLS
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"),
		strings.Contains(msg, "first record does not look like a TLS handshake"):
		return ErrEngineNoTLS
	}
	return nil
}

// probe dials the engine address without speaking HTTP and returns why that fails,
// or nil when it connects (or the address is not one it knows how to dial).
func probe(ctx context.Context, host string) error {
	u, err := url.Parse(host)
	if err != nil {
		return nil
	}
	var network, addr string
	switch u.Scheme {
	case "unix":
		network, addr = "unix", u.Path
	case "tcp", "http", "https":
		network, addr = "tcp", u.Host
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// Required reports whether CONTAINERTEST_REQUIRE_DOCKER asks that tests fail, never
// skip, when no engine answers (any value but "", "0" and "false").
func Required() bool {
	switch os.Getenv("CONTAINERTEST_REQUIRE_DOCKER") {
	case "", "0", "false":
		return false
	}
	return true
}

// FailOrSkip ends test t because of err: a skip when err means that no engine answers
// and Required() is false, a failure otherwise. pkg prefixes the message.
func FailOrSkip(t testing.TB, pkg string, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && !Required() {
		t.Skipf("%s: skipping: %v", pkg, err)
	}
	t.Fatalf("%s: %v", pkg, err)
}
