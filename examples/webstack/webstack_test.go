package webstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/examples/webstack"
)

var client = &http.Client{Timeout: 20 * time.Second}

// response is what the application answers: a count, or an error while Redis is away.
type response struct {
	Status   int
	Visits   int    `json:"visits"`
	ServedBy string `json:"served_by"`
	Error    string `json:"error"`
	Detail   string `json:"detail"`
	Server   string // the Server header: nginx's
}

// get sends GET path to the stack's proxy and decodes the application's JSON answer.
func get(t *testing.T, stack *webstack.Stack, path string) response {
	t.Helper()
	resp, err := client.Get(stack.URL(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	r := response{Status: resp.StatusCode, Server: resp.Header.Get("Server")}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET %s: HTTP %d with a body that is not the application's JSON: %v\n%s", path, resp.StatusCode, err, body)
	}
	return r
}

// visit counts one visit through the proxy and returns the new count.
func visit(t *testing.T, stack *webstack.Stack) int {
	t.Helper()
	r := get(t, stack, "/")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /: HTTP %d (%s: %s), want 200", r.Status, r.Error, r.Detail)
	}
	return r.Visits
}

// redisGet reads a key with redis-cli inside the Redis container: the test has no
// other way in, since Redis publishes no port.
func redisGet(t *testing.T, stack *webstack.Stack, key string) string {
	t.Helper()
	res, err := stack.Redis.Exec(t.Context(), "redis-cli", "--raw", "GET", key)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("redis-cli GET %s: exit %d, %v: %s", key, res.ExitCode, err, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

// TestVisitsAreCountedThroughTheProxy follows requests through nginx to the
// application and into Redis, and checks that only nginx is reachable from outside.
func TestVisitsAreCountedThroughTheProxy(t *testing.T) {
	t.Parallel()
	stack := webstack.Start(t)

	for want := 1; want <= 3; want++ {
		r := get(t, stack, "/")
		if r.Status != http.StatusOK || r.Visits != want {
			t.Fatalf("GET / #%d: HTTP %d, visits %d; want 200 and %d", want, r.Status, r.Visits, want)
		}
		if !strings.HasPrefix(r.Server, "nginx") {
			t.Errorf("GET / #%d: Server header %q, want nginx's: the request did not go through the proxy", want, r.Server)
		}
	}
	if got := redisGet(t, stack, "visits"); got != "3" {
		t.Errorf("Redis holds visits = %q, want 3", got)
	}

	// Only the proxy publishes a port; the application and Redis are on the stack's
	// network only.
	for name, c := range map[string]*containers.Container{"app": stack.App, "redis": stack.Redis} {
		info, err := c.Inspect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Ports) != 0 {
			t.Errorf("%s publishes ports %v, want none", name, info.Ports)
		}
	}
}

// TestAppRestartKeepsCount restarts the application: the count lives in Redis, so it
// goes on where it was, and nginx finds the restarted application by name.
func TestAppRestartKeepsCount(t *testing.T) {
	t.Parallel()
	stack := webstack.Start(t)

	visit(t, stack)
	if got := visit(t, stack); got != 2 {
		t.Fatalf("second visit: count %d, want 2", got)
	}
	// Restart waits until the application is ready again (its own readiness probe);
	// then wait until nginx reaches it, which may be at a new address that nginx
	// resolves again within a second.
	if err := stack.App.Restart(t.Context(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := stack.Proxy.WaitFor(t.Context(), webstack.ProxyReady()); err != nil {
		t.Fatalf("nginx does not reach the restarted application: %v", err)
	}
	if got := visit(t, stack); got != 3 {
		t.Errorf("first visit after the application's restart: count %d, want 3", got)
	}
}

// TestRedisOutage reproduces an outage of the application's store: while Redis is
// stopped the application answers 503 through the proxy instead of hanging or
// crashing, and once Redis is back the stack recovers without a restart, with the
// count Redis kept in its append-only file.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	stack := webstack.Start(t)
	ctx := t.Context()

	if got := visit(t, stack); got != 1 {
		t.Fatalf("first visit: count %d, want 1", got)
	}

	if err := stack.Redis.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/health"} {
		start := time.Now()
		r := get(t, stack, path)
		if r.Status != http.StatusServiceUnavailable || r.Error != "redis unavailable" {
			t.Errorf("GET %s during the outage: HTTP %d %q; want 503 \"redis unavailable\"", path, r.Status, r.Error)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("GET %s during the outage took %v; the application should fail fast", path, d.Round(time.Millisecond))
		}
		t.Logf("GET %s during the outage: HTTP %d (%s) in %v", path, r.Status, r.Detail, time.Since(start).Round(time.Millisecond))
	}

	// Start waits for Redis's own readiness probe; then wait for the whole stack, with
	// the strategy nginx was started with.
	if err := stack.Redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.Proxy.WaitFor(ctx, webstack.ProxyReady()); err != nil {
		t.Fatalf("the stack did not recover after Redis came back: %v", err)
	}
	if got := visit(t, stack); got != 2 {
		t.Errorf("first visit after the outage: count %d, want 2", got)
	}
}
