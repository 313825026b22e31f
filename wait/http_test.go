package wait_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// publish makes srv reachable as container port "8080/tcp" of f.
func publish(t *testing.T, f *fakeTarget, srv *httptest.Server) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	p, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	f.ports["8080/tcp"] = p
}

func TestForHTTPRetriesUntilOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForHTTP("/health").Port("8080/tcp"), long))
	assert.EqualValues(t, 3, calls.Load())
}

func TestForHTTPSendsMethodHeadersAndHost(t *testing.T) {
	type seen struct{ method, path, host, auth string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("Authorization")}
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	s := wait.ForHTTP("ping?deep=1").Port("8080/tcp").Method(http.MethodHead).
		Header("Authorization", "Bearer t0k3n").Header("Host", "api.test")
	require.NoError(t, s.WaitUntilReady(t.Context(), f))
	assert.Equal(t, seen{"HEAD", "/ping?deep=1", "api.test", "Bearer t0k3n"}, <-got)
}

func TestForHTTPMethodsReturnCopies(t *testing.T) {
	hdr := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr <- r.Header.Get("X-Probe")
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	base := wait.ForHTTP("/").Port("8080/tcp").Header("X-Probe", "base")
	_ = base.Header("X-Probe", "derived").Method(http.MethodPost).Status(500)
	require.NoError(t, base.WaitUntilReady(t.Context(), f))
	assert.Equal(t, "base", <-hdr)
	assert.Equal(t, "HTTP GET / on 8080/tcp", base.String())
}

func TestForHTTPTimeoutSaysStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database not reachable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	err := wait.Ready(t.Context(), f, wait.ForHTTP("/health").Port("8080/tcp").Timeout(100*time.Millisecond), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "HTTP GET /health on 8080/tcp (http://127.0.0.1:")
	assert.Contains(t, err.Error(), `HTTP 503, want 2xx: "database not reachable"`)
}

func TestForHTTPStatusAndBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/created":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"status":"UP"}`)
		case "/moved":
			http.Redirect(w, r, "/created", http.StatusFound)
		default:
			fmt.Fprint(w, `{"status":"DOWN"}`)
		}
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	ctx := t.Context()
	short := 100 * time.Millisecond
	h := wait.ForHTTP("/created").Port("8080/tcp")

	require.NoError(t, h.Status(201).Body(`"UP"`).WaitUntilReady(ctx, f))
	require.NoError(t, h.StatusFunc(func(c int) bool { return c < 300 }).WaitUntilReady(ctx, f))
	require.NoError(t, h.BodyFunc(func(b []byte) bool { return strings.HasPrefix(string(b), "{") }).WaitUntilReady(ctx, f))

	err := h.Status(200).Timeout(short).WaitUntilReady(ctx, f)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "HTTP 201, want 200")

	err = wait.ForHTTP("/other").Port("8080/tcp").Body(`"UP"`).Timeout(short).WaitUntilReady(ctx, f)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), `HTTP 200 with a body not containing "\"UP\"": "{\"status\":\"DOWN\"}"`)

	// Redirects are answers, not followed.
	err = wait.ForHTTP("/moved").Port("8080/tcp").Timeout(short).WaitUntilReady(ctx, f)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "HTTP 302, want 2xx")
	require.NoError(t, wait.ForHTTP("/moved").Port("8080/tcp").Status(302).WaitUntilReady(ctx, f))
}

func TestForHTTPWaitsForTheServerToListen(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(refusedPort(t)))
	f := newFake()
	f.ports["80/tcp"], _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	done := async(t.Context(), f, wait.ForHTTP("/").Port("80/tcp"), long)

	// Let the strategy run into refused connections for a while (ForFunc is a handy
	// retry loop), then start the server on that port.
	_ = wait.ForFunc(func(context.Context, wait.Target) error { return errors.New("later") }).
		Timeout(20*time.Millisecond).WaitUntilReady(t.Context(), f)
	requirePending(t, done, "nothing listens")

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	require.NoError(t, <-done)
}

func TestForHTTPProxyAcceptIsNotReady(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- wait.ForHTTP("/").Port("8080/tcp").WaitUntilReady(ctx, f) }()
	srv.awaitAccepts(t, 3) // the first two requests have been answered by a close
	cancel()
	err := <-done
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "connection closed at once")
}

func TestForHTTPPortFromTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	require.NoError(t, wait.ForHTTP("/").WaitUntilReady(t.Context(), listerTarget{f, []string{"8080/tcp", "9090/tcp"}}))

	err := wait.ForHTTP("/").WaitUntilReady(t.Context(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set one with Port")
}

func TestForHTTPTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	ctx := t.Context()
	h := wait.ForHTTP("/").Port("8080/tcp")

	require.NoError(t, h.Insecure().WaitUntilReady(ctx, f))
	assert.Equal(t, "HTTPS GET / on 8080/tcp", h.Insecure().String())

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.RootCAs = pool
	require.NoError(t, h.TLSConfig(cfg).WaitUntilReady(ctx, f))

	// An untrusted certificate does not become trusted by waiting: fail at once.
	err := wait.Ready(ctx, f, h.TLS(), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "verify certificate")
	assert.Contains(t, err.Error(), "use Insecure or TLSConfig")
}

func TestForHTTPTLSToPlainServerFailsAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	err := wait.Ready(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp").Insecure(), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "the server does not speak TLS")
}

func TestForHTTPContainerDies(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	done := async(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp"), long)
	srv.awaitAccepts(t, 1)
	f.exit(137, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "HTTP GET / on 8080/tcp: container fake-1 exited with code 137 while waiting")
}
