package containers_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/wait"
)

// runCounter makes a busybox shell script print "run N", N counting the container's
// runs, kept in a file of the container that survives restarts.
const runCounter = `n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n >/runs; echo run $n`

// The log tests repeat what is racy; each round is one short-lived busybox container.
func rounds(n int) int {
	if testing.Short() {
		return max(1, n/5)
	}
	return n
}

// A container that prints its line and exits at once is often already gone when the
// framework looks at it after the start: the line must still be seen.
func TestForLogSeesOneShotContainer(t *testing.T) {
	containers.RequireDocker(t)
	n := rounds(50)
	failed := 0
	var first error
	for range n {
		c, err := containers.Image(busybox).Cmd("sh", "-c", "echo done").
			WaitFor(wait.ForLog("done")).StartTimeout(30 * time.Second).Run(t.Context())
		if err != nil {
			failed++
			first = cmpOr(first, err)
			continue
		}
		require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
	}
	if failed > 0 {
		t.Errorf("ForLog missed the line of a one-shot container in %d of %d runs; first: %v", failed, n, first)
	}
}

// Starting a stopped one-shot container again (Start or Restart) waits on the new run's
// lines only, and sees them even though the run is over by the time Start looks.
func TestWaitAfterStartAgainSeesOnlyTheNewRun(t *testing.T) {
	c := containers.Image(busybox).Cmd("sh", "-c", runCounter).
		WaitFor(wait.ForLogRegexp(`^run \d+$`)).StartTimeout(30 * time.Second).Start(t)
	n := rounds(30)
	failed := 0
	var first error
	for i := 2; i <= n+1; i++ {
		err := func() error {
			waitExited(t, c)
			var err error
			if i%2 == 0 {
				err = c.Start(t.Context())
			} else {
				err = c.Restart(t.Context(), time.Second)
			}
			if err != nil {
				return err
			}
			rc, err := c.FollowLogs(t.Context())
			if err != nil {
				return err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				return err
			}
			if want := fmt.Sprintf("run %d\n", i); string(b) != want {
				return fmt.Errorf("FollowLogs after start %d = %q, want %q", i, b, want)
			}
			return nil
		}()
		if err != nil {
			failed++
			first = cmpOr(first, err)
			// Let the next round start from a stopped container whatever happened.
			_ = c.Stop(t.Context(), time.Second)
		}
	}
	if failed > 0 {
		t.Errorf("a wait after starting a one-shot container again failed in %d of %d runs; first: %v", failed, n, first)
	}
	logs, err := c.Logs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, n+1, strings.Count(logs, "run "), "Logs keeps every run:\n%s", logs)
}

// LogTo gets every line the container printed even when the container is removed
// right after printing them.
func TestLogToGetsEveryLineBeforeRemoval(t *testing.T) {
	containers.RequireDocker(t)
	var want strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	n := rounds(20)
	failed := 0
	var first error
	for i := range n {
		var buf syncBuffer
		// Removed while it runs, right after the last line, or right after it exited.
		spec := containers.Image(busybox).Cmd("sh", "-c", "seq 1 1000; sleep 60").WaitFor(wait.ForLog("1000\n"))
		if i%2 == 1 {
			spec = containers.Image(busybox).Cmd("seq", "1", "1000").WaitFor(wait.ForExit(0))
		}
		c, err := spec.LogTo(&buf).StartTimeout(30 * time.Second).Run(t.Context())
		if err != nil {
			failed++
			first = cmpOr(first, err)
			continue
		}
		require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
		if got := buf.String(); got != want.String() {
			failed++
			first = cmpOr(first, fmt.Errorf("LogTo got %d lines, ending %q (one-shot: %v)",
				strings.Count(got, "\n"), got[max(0, len(got)-20):], i%2 == 1))
		}
	}
	if failed > 0 {
		t.Errorf("LogTo lost lines at removal in %d of %d runs; first: %v", failed, n, first)
	}
}

// LogTo follows the container across Restart and Stop+Start, for a long-running and a
// one-shot process, and delivers every line once.
func TestLogToFollowsAcrossRestarts(t *testing.T) {
	containers.RequireDocker(t)
	n := rounds(10)
	failed := 0
	var first error
	for i := range n {
		var buf syncBuffer
		cmd := `trap 'exit 0' TERM; ` + runCounter + `; sleep 60 & wait`
		if i%2 == 1 {
			cmd = runCounter
		}
		c, err := containers.Image(busybox).Cmd("sh", "-c", cmd).LogTo(&buf).
			WaitFor(wait.ForLogRegexp(`^run \d+$`)).StartTimeout(30 * time.Second).Run(t.Context())
		if err != nil {
			failed++
			first = cmpOr(first, err)
			continue
		}
		err = c.Restart(t.Context(), 5*time.Second)
		if err == nil {
			err = c.Stop(t.Context(), 5*time.Second)
		}
		if err == nil {
			err = c.Start(t.Context())
		}
		if err == nil {
			err = c.Restart(t.Context(), 5*time.Second)
		}
		require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
		if got, want := buf.String(), "run 1\nrun 2\nrun 3\nrun 4\n"; err != nil || got != want {
			failed++
			first = cmpOr(first, fmt.Errorf("LogTo got %q (one-shot: %v; restarts: %v)", got, i%2 == 1, err))
		}
	}
	if failed > 0 {
		t.Errorf("LogTo did not follow across restarts in %d of %d runs; first: %v", failed, n, first)
	}
}

// A container with a TTY writes one raw stream, not stdout and stderr frames: Logs,
// LogTail, ForLog (FollowLogs) and LogTo must all read it.
func TestLogsOfTTYContainer(t *testing.T) {
	var buf syncBuffer
	c := containers.Image(busybox).Cmd("sh", "-c", "echo to-stdout; echo to-stderr >&2; echo ready; sleep 60").
		Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.Tty = true }).
		LogTo(&buf).
		WaitFor(wait.ForLogRegexp(`^ready$`)).
		Start(t)
	logs, err := c.Logs(t.Context())
	require.NoError(t, err)
	// A terminal ends lines with CR LF, and stderr goes to the same terminal.
	assert.Equal(t, "to-stdout\r\nto-stderr\r\nready\r\n", logs)
	tail, err := c.LogTail(t.Context(), 1)
	require.NoError(t, err)
	assert.Equal(t, "ready\r\n", tail)
	require.NoError(t, c.Restart(t.Context(), time.Second))
	require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
	assert.Equal(t, strings.Repeat("to-stdout\r\nto-stderr\r\nready\r\n", 2), buf.String())
}

// waitExited waits until the engine has reported the container's process ended.
func waitExited(t *testing.T, c *containers.Container) {
	t.Helper()
	for {
		ch := containers.StatusChangedOf(c)
		if containers.StatusOf(c).Exited {
			return
		}
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("container %s did not exit", c.Name())
		}
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// lineRecorder keeps the lines a LogConsumer received.
type lineRecorder struct {
	mu    sync.Mutex
	lines []containers.LogLine
}

func (r *lineRecorder) add(l containers.LogLine) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	r.mu.Unlock()
}

func (r *lineRecorder) stream(s containers.LogStream) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if l.Stream == s {
			out = append(out, l.Text)
		}
	}
	return out
}

// A LogConsumer gets every line with the stream it was written to, across a restart,
// up to a last line without a line end, and nothing after removal; LogTo beside it still
// gets the bytes.
func TestLogConsumerGetsEachLineWithItsStream(t *testing.T) {
	containers.RequireDocker(t)
	var wantOut, wantErr []string
	logBytes := len("partial")
	for range 2 {
		for i := 1; i <= 300; i++ {
			wantOut = append(wantOut, fmt.Sprintf("out %d", i))
			wantErr = append(wantErr, fmt.Sprintf("err %d", i))
			logBytes += 2 * len(fmt.Sprintf("out %d\n", i))
		}
	}
	wantOut = append(wantOut, "partial")
	n := rounds(5)
	for i := range n {
		var rec lineRecorder
		var buf syncBuffer
		// The second run ends with a line without a line end.
		c, err := containers.Image(busybox).
			Cmd("sh", "-c", `n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n >/runs
for i in $(seq 1 300); do echo out $i; echo err $i >&2; done
if [ $n = 2 ]; then printf partial; fi`).
			LogConsumer(rec.add).LogTo(&buf).
			WaitFor(wait.ForExit(0)).StartTimeout(30 * time.Second).Run(t.Context())
		require.NoError(t, err)
		require.NoError(t, c.Restart(t.Context(), time.Second))
		if i%2 == 0 {
			waitExited(t, c) // else removed while it may still run
		}
		require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
		require.Equal(t, wantOut, rec.stream(containers.Stdout), "stdout lines (round %d)", i)
		require.Equal(t, wantErr, rec.stream(containers.Stderr), "stderr lines (round %d)", i)
		assert.Len(t, buf.String(), logBytes, "LogTo beside a consumer")
		rec.mu.Lock()
		total := len(rec.lines)
		rec.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		rec.mu.Lock()
		assert.Equal(t, total, len(rec.lines), "lines after removal")
		rec.mu.Unlock()
	}
}

// A container with a terminal has one stream: its lines come as Stdout, without CR.
func TestLogConsumerOfTTYContainer(t *testing.T) {
	var rec lineRecorder
	c := containers.Image(busybox).Cmd("sh", "-c", "echo a; echo b >&2; echo ready; sleep 60").
		Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.Tty = true }).
		LogConsumer(rec.add).
		WaitFor(wait.ForLogRegexp(`^ready`)).
		Start(t)
	require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
	assert.Equal(t, []string{"a", "b", "ready"}, rec.stream(containers.Stdout))
	assert.Empty(t, rec.stream(containers.Stderr))
}

func TestLogConsumerNil(t *testing.T) {
	err := containers.Image(busybox).LogConsumer(nil).Err()
	require.ErrorContains(t, err, "log consumer: nil function")
}
