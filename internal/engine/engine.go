// Package engine finds the Docker engine and holds the one client a process uses.
//
// Resolution order: DOCKER_HOST (unix, tcp with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH),
// the Docker CLI's current context, the default socket, the rootless socket. The first
// place that answers a single ping wins; the API version is negotiated from that ping.
package engine

import (
	"context"
	"crypto/tls"
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

// pingTimeout bounds the single ping per candidate.
const pingTimeout = 5 * time.Second

// An Engine is a connected Docker engine.
type Engine struct {
	// Client is the shared API client; safe for concurrent use.
	Client *client.Client
	// Addr is the engine address that answered, e.g. "unix:///var/run/docker.sock".
	Addr string
	// Source says where Addr came from ("DOCKER_HOST", "default socket", ...).
	Source string
	// Host is where published ports are reached from this process ("127.0.0.1" for a
	// local engine). CONTAINERTEST_HOST overrides it.
	Host string
	// APIVersion is the negotiated API version.
	APIVersion string
	// Remote is true when the engine runs on another machine (tcp to a non-loopback host):
	// ports must then be published on all interfaces to be reachable.
	Remote bool
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

// Connect resolves the candidates of env in order and returns the first that answers a ping.
// Get is the shared, cached form; Connect always connects anew (tests use it directly).
func Connect(ctx context.Context, env Environ) (*Engine, error) {
	cands, err := Candidates(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var tried []string
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
		if ctx.Err() != nil {
			// The caller gave up: say so in a way errors.Is sees, and try nothing more.
			return nil, fmt.Errorf("%w: %w; tried:\n\t%s", ErrUnavailable, context.Cause(ctx), strings.Join(tried, "\n\t"))
		}
	}
	return nil, fmt.Errorf("%w; tried:\n\t%s", ErrUnavailable, strings.Join(tried, "\n\t"))
}

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
	opts = append(opts, client.WithHost(c.Host))
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
		return nil, fmt.Errorf("ping: %w", err)
	}
	cli.NegotiateAPIVersionPing(p)
	host := HostFor(c.Host, hostOverride)
	return &Engine{
		Client:     cli,
		Addr:       c.Host,
		Source:     c.Source,
		Host:       host,
		APIVersion: cli.ClientVersion(),
		Remote:     !isLoopback(host),
	}, nil
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
