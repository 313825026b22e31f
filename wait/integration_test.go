package wait_test

// Integration tests against the real engine, with busybox: for every strategy, success,
// timeout and the container's death. They skip without an engine unless
// CONTAINERTEST_REQUIRE_DOCKER=1.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

// forever is a start timeout that no test reaches: a start that fails before it failed
// for a reason of its own, such as the container's death.
const forever = 10 * time.Minute

// busybox returns a spec of the busybox image running script in sh.
func busybox(t *testing.T, script string) containers.Spec {
	t.Helper()
	containers.RequireDocker(t)
	return containers.Image(testimages.Busybox(t)).Cmd("sh", "-c", script)
}

// runFails starts spec, expecting it not to become ready, and returns the error.
func runFails(t *testing.T, spec containers.Spec) error {
	t.Helper()
	c, err := spec.Run(t.Context())
	if err == nil {
		c.Terminate(context.WithoutCancel(t.Context()))
		t.Fatal("the container became ready")
	}
	require.ErrorIs(t, err, wait.ErrNotReady)
	return err
}

// requireDied checks the error of a start whose container died while waiting.
func requireDied(t *testing.T, err error, code int, lastWords string) {
	t.Helper()
	require.ErrorIs(t, err, wait.ErrExited)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), fmt.Sprintf("exited with code %d while waiting", code))
	assert.Contains(t, err.Error(), lastWords)
}

// requireTimedOut checks the error of a start that timed out, and what it last saw.
func requireTimedOut(t *testing.T, err error, strategy, sawLast string) {
	t.Helper()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), strategy)
	assert.Contains(t, err.Error(), "timed out after")
	assert.Contains(t, err.Error(), sawLast)
}

// nothingListens is what a ForPort timeout says when nothing listens behind a published
// port: read from the container's socket table where this process can see it (a local
// rootful engine), judged through the userland proxy where it cannot (tests in a
// container, rootless or remote engines). Which one applies is asked of a container once.
func nothingListens(t *testing.T) string {
	t.Helper()
	tableOnce.Do(func() {
		c := busybox(t, "exec sleep 600").Expose("8080/tcp").WaitFor().Start(t)
		tableKnown = waitwire.Enrich(c).(waitwire.Listening).Listeners("8080/tcp").Known
	})
	if tableKnown {
		return "nothing listens"
	}
	return "nothing listening behind the published port"
}

var (
	tableOnce  sync.Once
	tableKnown bool
)

// noProxy returns what a dial of a published port with nothing behind it meets: the
// engine's userland proxy accepts and closes it at once ("closed"), while podman,
// which forwards ports without a proxy, has it refused ("refused").
func noProxy(t *testing.T, closed, refused string) string {
	t.Helper()
	if testimages.IsPodman(t) {
		return refused
	}
	return closed
}

// requireLimits skips the test where the engine cannot enforce memory limits: rootless
// Docker on cgroup v1 accepts them and ignores them, so nothing is ever killed.
func requireLimits(t *testing.T) {
	t.Helper()
	e := testimages.Engine(t)
	info, err := e.Client.Info(t.Context())
	require.NoError(t, err)
	rootless := false
	for _, o := range info.SecurityOptions {
		if strings.Contains(o, "name=rootless") {
			rootless = true
		}
	}
	if rootless && info.CgroupVersion != "2" {
		t.Skipf("rootless Docker on cgroup v%s cannot enforce memory limits (it needs cgroup v2 with delegation)", info.CgroupVersion)
	}
}

// proxyOnly hides the container's socket table (waitwire.Listening), as on an engine in
// a VM or a rootless one: ForPort must then judge through the userland proxy.
type proxyOnly struct{ wait.Target }

// dying is a script that writes its last words and exits with code 3 after a moment.
const dying = "echo 'fatal: cannot open config' >&2; sleep 0.3; exit 3"

func TestIntegrationForPort(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		c := busybox(t, "sleep 0.3; exec nc -ll -p 8080 -e cat").Expose("8080/tcp").
			WaitFor(wait.ForPort("8080/tcp")).Start(t)
		conn, err := net.Dial("tcp", c.Endpoint("8080/tcp"))
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Write([]byte("ping\n"))
		require.NoError(t, err)
		buf := make([]byte, 5)
		_, err = conn.Read(buf)
		require.NoError(t, err, "ForPort reported ready but nobody answers")
		assert.Equal(t, "ping\n", string(buf))
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		// The port is published but nothing listens in the container.
		err := runFails(t, busybox(t, "exec sleep 600").Expose("8080/tcp").
			WaitFor(wait.ForPort("8080/tcp").Timeout(time.Second)))
		requireTimedOut(t, err, "port 8080/tcp", nothingListens(t))
	})
	t.Run("through the userland proxy alone", func(t *testing.T) {
		t.Parallel()
		// Without the container's own address, the engine's proxy accepts and closes
		// every connection while nothing listens, which must not count.
		c := busybox(t, "sleep 3; exec nc -ll -p 8080 -e cat").Expose("8080/tcp").WaitFor().Start(t)
		if !waitwire.Enrich(c).(waitwire.Listening).Listeners("8080/tcp").Known {
			t.Skip("the container's socket table is not readable from here (tests in a container, an engine in a VM or remote): every ForPort takes the proxy-only path, which the other subtests check")
		}
		err := wait.ForPort("8080/tcp").Timeout(500*time.Millisecond).WaitUntilReady(t.Context(), proxyOnly{c})
		requireTimedOut(t, err, "port 8080/tcp", noProxy(t, "connection closed at once", "connection refused"))
		require.NoError(t, wait.ForPort("8080/tcp").WaitUntilReady(t.Context(), proxyOnly{c}))
		require.NoError(t, dialer(t.Context(), c), "ForPort reported ready but nobody answers")
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).Expose("8080/tcp").
			WaitFor(wait.ForPort("8080/tcp")).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
	t.Run("out of memory", func(t *testing.T) {
		t.Parallel()
		requireLimits(t)
		// The shell (the container's main process) gathers 64 MiB; the limit is 8 MiB.
		err := runFails(t, busybox(t, `x=$(head -c 67108864 /dev/zero | tr "\0" a); sleep 600`).
			Memory(8<<20).Expose("8080/tcp").WaitFor(wait.ForPort("8080/tcp")).StartTimeout(forever))
		require.ErrorIs(t, err, wait.ErrExited)
		want := "(out of memory) while waiting"
		if testimages.IsPodman(t) {
			// Podman 4 reported no OOM kill here (see containers/podmanhealth.go).
			want = "(SIGKILL: out of memory, or killed; the engine does not report which) while waiting"
		}
		assert.Contains(t, err.Error(), want)
	})
}

func TestIntegrationForLog(t *testing.T) {
	t.Parallel()
	t.Run("success on stderr, split across writes", func(t *testing.T) {
		t.Parallel()
		c := busybox(t, "echo booting; printf 'server rea' >&2; sleep 0.2; printf 'dy\\n' >&2; exec sleep 600").
			WaitFor(wait.ForLog("server ready")).Start(t)
		logs, err := c.Logs(t.Context())
		require.NoError(t, err)
		assert.Contains(t, logs, "server ready")
	})
	t.Run("first line, written at once", func(t *testing.T) {
		t.Parallel()
		// The line is often written before the engine records the start time: the
		// log must be followed from the container's start, not from that time.
		for range 5 {
			busybox(t, "echo ready; exec sleep 600").WaitFor(wait.ForLog("ready").Timeout(20 * time.Second)).Start(t)
		}
	})
	t.Run("times and regexp", func(t *testing.T) {
		t.Parallel()
		busybox(t, "for i in 1 2 3; do echo \"worker $i up\"; sleep 0.1; done; exec sleep 600").
			WaitFor(wait.ForLog("up").Times(3), wait.ForLogRegexp(`^worker \d up$`).Times(3)).Start(t)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "echo ready; exec sleep 600").
			WaitFor(wait.ForLog("ready").Times(2).Timeout(time.Second)))
		requireTimedOut(t, err, `log "ready" (2 times)`, "log matched 1 of 2")
		assert.Contains(t, err.Error(), "last log lines:\n\tready")
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).WaitFor(wait.ForLog("ready")).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
}

// httpd serves /www after a moment, with index.html saying "hello".
const httpd = "mkdir -p /www; echo hello >/www/index.html; sleep 0.3; exec httpd -f -p 8080 -h /www"

func TestIntegrationForHTTP(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		busybox(t, httpd).Expose("8080/tcp").
			WaitFor(wait.ForHTTP("/index.html").Port("8080/tcp").Body("hello")).Start(t)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, httpd).Expose("8080/tcp").
			WaitFor(wait.ForHTTP("/health").Port("8080/tcp").Timeout(2*time.Second)))
		requireTimedOut(t, err, "HTTP GET /health on 8080/tcp", "HTTP 404, want 2xx")
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).Expose("8080/tcp").
			WaitFor(wait.ForHTTP("/").Port("8080/tcp")).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
}

// health is a quick health check: the probe passes once /tmp/ok exists.
var health = containers.Health{
	Test:     []string{"CMD-SHELL", "test -f /tmp/ok || { echo 'db not up yet'; exit 1; }"},
	Interval: 100 * time.Millisecond,
	Timeout:  time.Second,
	Retries:  2,
}

func TestIntegrationForHealthy(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		c := busybox(t, "sleep 0.5; touch /tmp/ok; exec sleep 600").HealthCheck(health).
			WaitFor(wait.ForHealthy()).Start(t)
		assert.Equal(t, "healthy", statusOf(c).Health)
	})
	t.Run("timeout says the probe output", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").HealthCheck(health).
			WaitFor(wait.ForHealthy().Timeout(2*time.Second)))
		requireTimedOut(t, err, "health check", "unhealthy: db not up yet")
	})
	t.Run("no health check", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").WaitFor(wait.ForHealthy()).StartTimeout(forever))
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "has no health check")
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).HealthCheck(health).WaitFor(wait.ForHealthy()).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
}

func TestIntegrationForExec(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		busybox(t, "sleep 0.3; touch /tmp/ready; exec sleep 600").
			WaitFor(wait.ForExec("test", "-f", "/tmp/ready")).Start(t)
		busybox(t, "exec sleep 600").WaitFor(wait.ForExec("sh", "-c", "exit 5").ExitCode(5)).Start(t)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").
			WaitFor(wait.ForExec("sh", "-c", "echo not accepting connections >&2; exit 1").Timeout(time.Second)))
		requireTimedOut(t, err, "exec sh -c", "exit code 1: not accepting connections")
	})
	t.Run("command missing", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").WaitFor(wait.ForExec("pg_isready")).StartTimeout(forever))
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "cannot be run in the container")
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).WaitFor(wait.ForExec("test", "-f", "/tmp/ready")).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
}

func TestIntegrationForExit(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		c := busybox(t, "sleep 0.2; echo migrated; exit 0").
			WaitFor(wait.ForExit(0), wait.ForLog("migrated")).StartTimeout(forever).Start(t)
		assert.True(t, statusOf(c).Exited)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").WaitFor(wait.ForExit(0).Timeout(time.Second)))
		requireTimedOut(t, err, "exit with code 0", "still running")
	})
	t.Run("other exit code", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).WaitFor(wait.ForExit(0)).StartTimeout(forever))
		require.ErrorIs(t, err, wait.ErrExited)
		assert.Contains(t, err.Error(), "exited with code 3, want 0")
		assert.Contains(t, err.Error(), "fatal: cannot open config")
	})
}

// dialer is a ForFunc check: the port answers a line with a line.
func dialer(ctx context.Context, t wait.Target) error {
	port, err := t.LookupPort("8080/tcp")
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host(), strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := c.Read(buf); err != nil {
		return fmt.Errorf("no echo: %w", err)
	}
	return nil
}

func TestIntegrationForFunc(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		busybox(t, "sleep 0.3; exec nc -ll -p 8080 -e cat").Expose("8080/tcp").
			WaitFor(wait.ForFunc(dialer)).Start(t)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").Expose("8080/tcp").
			WaitFor(wait.ForFunc(dialer).Timeout(time.Second)))
		requireTimedOut(t, err, "func wait_test.dialer", noProxy(t, "no echo", "connection refused"))
	})
	t.Run("death", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).Expose("8080/tcp").WaitFor(wait.ForFunc(dialer)).StartTimeout(forever))
		requireDied(t, err, 3, "fatal: cannot open config")
	})
}

func TestIntegrationAllAny(t *testing.T) {
	t.Parallel()
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		busybox(t, "echo starting; "+httpd).Expose("8080/tcp").
			WaitFor(wait.All(wait.ForLog("starting"), wait.ForPort("8080/tcp"), wait.ForHTTP("/index.html").Port("8080/tcp"))).Start(t)
	})
	t.Run("any", func(t *testing.T) {
		t.Parallel()
		busybox(t, "echo ready; exec sleep 600").Expose("8080/tcp").
			WaitFor(wait.Any(wait.ForPort("8080/tcp"), wait.ForLog("ready"))).Start(t)
	})
	t.Run("any timeout joins both", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, "exec sleep 600").Expose("8080/tcp").
			WaitFor(wait.Any(wait.ForPort("8080/tcp"), wait.ForLog("ready")).Timeout(time.Second)))
		requireTimedOut(t, err, "port 8080/tcp", nothingListens(t))
		assert.Contains(t, err.Error(), `; log "ready": timed out after`)
	})
	t.Run("any with exit dies fast", func(t *testing.T) {
		t.Parallel()
		err := runFails(t, busybox(t, dying).Expose("8080/tcp").
			WaitFor(wait.Any(wait.ForPort("8080/tcp"), wait.ForExit(0))).StartTimeout(forever))
		require.ErrorIs(t, err, wait.ErrExited)
		assert.Contains(t, err.Error(), "exited with code 3, want 0")
	})
}

// statusOf is the container's state from the engine's events, as the strategies see it.
func statusOf(c *containers.Container) waitwire.Status {
	return waitwire.Enrich(c).(waitwire.Observed).Status()
}
