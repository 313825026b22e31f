package wait_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

func TestForHTTPPostsBodyWithBasicAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, ok := r.BasicAuth()
		switch {
		case r.Method != http.MethodPost:
			http.Error(w, "want POST, got "+r.Method, http.StatusMethodNotAllowed)
		case !ok || user != "admin" || pass != "s3:cret":
			http.Error(w, "bad credentials", http.StatusUnauthorized)
		case string(body) != `{"q":"ping"}` || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, fmt.Sprintf("bad body %q", body), http.StatusBadRequest)
		default:
			fmt.Fprint(w, "pong")
		}
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	base := wait.ForHTTP("/q").Port("8080/tcp").Method(http.MethodPost).
		Header("Content-Type", "application/json").RequestBody([]byte(`{"q":"ping"}`))

	require.NoError(t, wait.Ready(t.Context(), f, base.BasicAuth("admin", "s3:cret").Body("pong"), long))

	err := wait.Ready(t.Context(), f, base.BasicAuth("admin", "wrong"), 300*time.Millisecond)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.Contains(t, err.Error(), "bad credentials")
}

func TestForHTTPRequestBodyIsResentOnEveryAttempt(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "hello" {
			http.Error(w, fmt.Sprintf("body %q", body), http.StatusBadRequest)
			return
		}
		if calls.Add(1) < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	require.NoError(t, wait.Ready(t.Context(), f,
		wait.ForHTTP("/").Port("8080/tcp").Method("PUT").RequestBody([]byte("hello")), long))
	assert.EqualValues(t, 3, calls.Load())
}

func TestForHTTPBasicAuthRejectsColonInUser(t *testing.T) {
	f := newFake()
	err := wait.Ready(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp").BasicAuth("a:b", "p"), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `basic auth user "a:b" contains a colon`)
}

func TestForHTTPResponseHeader(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) >= 3 {
			w.Header().Add("X-Ready", "no")
			w.Header().Add("X-Ready", "yes")
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp").ResponseHeader("x-ready", "yes"), long))
	assert.EqualValues(t, 3, calls.Load())

	err := wait.Ready(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp").ResponseHeader("X-Version", "2"), 200*time.Millisecond)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), `without header X-Version: "2"`)
	assert.Contains(t, err.Error(), "X-Ready")

	fn := wait.ForHTTP("/").Port("8080/tcp").ResponseHeaderFunc(func(h http.Header) bool {
		return h.Get("Content-Type") == "text/plain; charset=utf-8"
	})
	require.NoError(t, wait.Ready(t.Context(), f, fn, long))

	err = wait.Ready(t.Context(), f, wait.ForHTTP("/").Port("8080/tcp").ResponseHeader(" ", "x"), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "empty header name")
}

// countingTransport counts the requests that go through it.
type countingTransport struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func TestForHTTPUsesTheGivenClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		fmt.Fprint(w, "new")
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	tr := &countingTransport{base: http.DefaultTransport}
	// The given client follows redirects (its CheckRedirect is nil), the strategy's own
	// does not.
	s := wait.ForHTTP("/old").Port("8080/tcp").Body("new")
	require.NoError(t, wait.Ready(t.Context(), f, s.Client(&http.Client{Transport: tr}), long))
	assert.EqualValues(t, 2, tr.n.Load(), "the request and the redirect go through the given client")

	err := wait.Ready(t.Context(), f, s, 200*time.Millisecond)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "HTTP 302")

	err = wait.Ready(t.Context(), f, s.Client(http.DefaultClient).Insecure(), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client cannot be combined with Insecure or TLSConfig")
	err = wait.Ready(t.Context(), f, s.Client(nil), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil *http.Client")
}
