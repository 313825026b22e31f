package composestack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/examples/composestack"
)

type visit struct {
	status int
	visits int
	server string
}

func get(t *testing.T, s *compose.Stack, path string) visit {
	t.Helper()
	resp, err := http.Get(composestack.URL(s, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Visits int `json:"visits"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return visit{resp.StatusCode, body.Visits, resp.Header.Get("Server")}
}

func TestVisitsAreCountedThroughTheProxy(t *testing.T) {
	t.Parallel()
	stack := composestack.Up(t)
	for want := 1; want <= 3; want++ {
		v := get(t, stack, "/")
		if v.status != http.StatusOK || v.visits != want || !strings.HasPrefix(v.server, "nginx") {
			t.Fatalf("GET / #%d: %+v; want 200 from nginx with visits %d", want, v, want)
		}
	}
	r, err := stack.Service("redis").Exec(t.Context(), "redis-cli", "--raw", "GET", "visits")
	if err != nil || strings.TrimSpace(r.Stdout) != "3" {
		t.Errorf("Redis holds visits = %q (%v), want 3", r.Stdout, err)
	}
	// Only nginx publishes a port.
	for _, svc := range []string{"app", "redis"} {
		info, err := stack.Service(svc).Inspect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Ports) != 0 {
			t.Errorf("%s publishes %v", svc, info.Ports)
		}
	}
}

// TestRedisOutage stops Redis: the application answers 503 through nginx; Redis
// comes back on its volume with the count, and the stack recovers by itself.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	stack := composestack.Up(t)
	ctx := t.Context()
	if v := get(t, stack, "/"); v.visits != 1 {
		t.Fatalf("first visit: %+v", v)
	}
	redis := stack.Service("redis")
	if err := redis.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if v := get(t, stack, "/"); v.status != http.StatusServiceUnavailable {
		t.Errorf("with Redis stopped: %+v, want 503", v)
	}
	if err := redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.Service("nginx").WaitFor(ctx, composestack.ProxyReady()); err != nil {
		t.Fatal(err)
	}
	if v := get(t, stack, "/"); v.status != http.StatusOK || v.visits != 2 {
		t.Errorf("after Redis came back: %+v, want 200 with visits 2 (the count survived on the volume)", v)
	}
}
