package tutorial_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/examples/tutorial"
)

// ps is what "docker compose ps" shows: one line per container.
func ps(t *testing.T, s *compose.Stack) []string {
	t.Helper()
	var lines []string
	for _, svc := range s.Services() {
		for _, c := range s.Replicas(svc) {
			info, err := c.Inspect(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var ports []string
			for p, hp := range info.Ports {
				ports = append(ports, fmt.Sprintf("%s:%d->%s", c.Host(), hp, p))
			}
			slices.Sort(ports)
			lines = append(lines, fmt.Sprintf("%s %s %s %s", info.Name, svc, info.State, strings.Join(ports, ",")))
		}
	}
	return lines
}

func TestTutorialUpPsUseDown(t *testing.T) {
	stack := tutorial.Up(t)
	ctx := t.Context()

	// ps: both services run; only web publishes a port, on 127.0.0.1.
	lines := ps(t, stack)
	t.Logf("ps:\n%s", strings.Join(lines, "\n"))
	if got, want := stack.Services(), []string{"redis", "web"}; !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	if len(lines) != 2 || !strings.Contains(lines[0], " redis running ") || !strings.HasSuffix(lines[0], "running ") ||
		!strings.Contains(lines[1], " web running 127.0.0.1:") || !strings.HasSuffix(lines[1], "->80/tcp") {
		t.Errorf("ps:\n%s", strings.Join(lines, "\n"))
	}

	// The web page answers.
	resp, err := http.Get(tutorial.URL(stack, "/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Hello from the tutorial's web service") || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
		t.Errorf("GET /: %d %q %q", resp.StatusCode, resp.Header.Get("Server"), body)
	}

	// Redis answers PING and keeps a key; web finds it by its service name.
	redis := stack.Service("redis")
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"redis-cli", "ping"}, "PONG"},
		{[]string{"redis-cli", "incr", "hits"}, "1"},
		{[]string{"redis-cli", "incr", "hits"}, "2"},
	} {
		r, err := redis.Exec(ctx, tc.cmd...)
		if err != nil || r.ExitCode != 0 || strings.TrimSpace(r.Stdout) != tc.want {
			t.Errorf("%v: %q %q (%v), want %q", tc.cmd, r.Stdout, r.Stderr, err, tc.want)
		}
	}
	if r, err := stack.Service("web").Exec(ctx, "getent", "hosts", "redis"); err != nil || r.ExitCode != 0 {
		t.Errorf("web does not resolve redis: %+v %v", r, err)
	}

	// down: the containers and the project's network are gone.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := stack.Down(dctx); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "redis"} {
		if _, err := stack.Service(svc).Inspect(dctx); err == nil {
			t.Errorf("%s still exists after Down", svc)
		}
	}
	if _, err := stack.Network("default").Inspect(dctx); err == nil {
		t.Errorf("network %s still exists after Down", stack.Network("default").Name())
	}
}

// TestTwoTutorialStacksAtOnce starts the file twice at once, as two tests (or two
// developers' runs) would: with the file's fixed 8080 the second would fail.
func TestTwoTutorialStacksAtOnce(t *testing.T) {
	t.Parallel()
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			stack := tutorial.Up(t)
			r, err := stack.Service("redis").Exec(t.Context(), "redis-cli", "incr", "hits")
			if err != nil || strings.TrimSpace(r.Stdout) != "1" {
				t.Errorf("each stack has its own Redis: incr = %q (%v)", r.Stdout, err)
			}
		})
	}
}
