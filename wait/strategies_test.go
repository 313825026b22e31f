package wait_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

func withHealthCheck(f *fakeTarget) *fakeTarget {
	f.setStatus(func(s *waitwire.Status) { s.HasHealthCheck, s.Health = true, "starting" })
	return f
}

func TestForHealthyFollowsStatus(t *testing.T) {
	f := withHealthCheck(newFake())
	done := async(t.Context(), f, wait.ForHealthy(), long)
	f.setStatus(func(s *waitwire.Status) { s.Health = "unhealthy" })
	requirePending(t, done, "the container is unhealthy")
	f.setStatus(func(s *waitwire.Status) { s.Health = "healthy" })
	require.NoError(t, <-done)
}

func TestForHealthyWithoutHealthCheckFailsAtOnce(t *testing.T) {
	err := wait.Ready(t.Context(), newFake(), wait.ForHealthy(), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "health check: container fake-1 has no health check")
}

func TestForHealthyTimeoutSaysLastProbe(t *testing.T) {
	f := withHealthCheck(newFake())
	f.setStatus(func(s *waitwire.Status) { s.Health = "unhealthy" })
	f.healthLog = "pg_isready: /var/run/postgresql:5432 - no response\n"
	err := wait.Ready(t.Context(), f, wait.ForHealthy().Timeout(20*time.Millisecond), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "health check: timed out after")
	assert.Contains(t, err.Error(), "unhealthy: pg_isready: /var/run/postgresql:5432 - no response")
}

func TestForHealthyContainerDies(t *testing.T) {
	f := withHealthCheck(newFake())
	done := async(t.Context(), f, wait.ForHealthy(), long)
	f.exit(1, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "health check: container fake-1 exited with code 1 while waiting")
}

// scriptedExec answers Exec with the exit codes of codes, then with the last one.
func scriptedExec(f *fakeTarget, codes ...int) (calls *atomic.Int32, cmds chan []string) {
	calls = new(atomic.Int32)
	cmds = make(chan []string, 100)
	f.exec = func(ctx context.Context, cmd []string) (wait.ExecResult, error) {
		i := int(calls.Add(1)) - 1
		select {
		case cmds <- cmd:
		default:
		}
		code := codes[min(i, len(codes)-1)]
		return wait.ExecResult{ExitCode: code, Stderr: "not yet\n"}, nil
	}
	return calls, cmds
}

func TestForExecRetriesUntilExitCode(t *testing.T) {
	f := newFake()
	calls, cmds := scriptedExec(f, 2, 2, 0)
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForExec("pg_isready", "-U", "app"), long))
	assert.EqualValues(t, 3, calls.Load())
	assert.Equal(t, []string{"pg_isready", "-U", "app"}, <-cmds)

	g := newFake()
	scriptedExec(g, 0, 0, 3)
	require.NoError(t, wait.ForExec("test", "-f", "/done").ExitCode(3).WaitUntilReady(t.Context(), g))
}

func TestForExecTimeoutSaysExitCodeAndOutput(t *testing.T) {
	f := newFake()
	scriptedExec(f, 1)
	err := wait.Ready(t.Context(), f, wait.ForExec("check").Timeout(50*time.Millisecond), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "exec check: timed out after")
	assert.Contains(t, err.Error(), "exit code 1: not yet")
}

func TestForExecCommandThatCannotRunFailsAtOnce(t *testing.T) {
	f := newFake()
	calls, _ := scriptedExec(f, 127)
	err := wait.Ready(t.Context(), f, wait.ForExec("pg_isready"), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "exit code 127, it cannot be run in the container")
	assert.EqualValues(t, 1, calls.Load())

	g := newFake()
	g.exec = func(ctx context.Context, cmd []string) (wait.ExecResult, error) {
		return wait.ExecResult{ExitCode: 126, Stdout: `OCI runtime exec failed: exec: "pg_isready": executable file not found in $PATH: unknown`}, nil
	}
	err = wait.Ready(t.Context(), g, wait.ForExec("pg_isready"), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "exit code 126, it cannot be run in the container: OCI runtime exec failed")
}

func TestForExecKeepsTryingWhileTheContainerStops(t *testing.T) {
	// The engine answers 126 for an exec into a container that is stopping, before
	// the die event arrives: that is the container's death, not a missing command.
	for _, out := range []string{
		"OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown",
		"OCI runtime exec failed: exec failed: unable to start container process: error executing setns process: exit status 1: unknown",
	} {
		f := newFake()
		var calls atomic.Int32
		f.exec = func(ctx context.Context, cmd []string) (wait.ExecResult, error) {
			if calls.Add(1) == 3 {
				f.exit(3, false)
			}
			return wait.ExecResult{ExitCode: 126, Stdout: out}, nil
		}
		err := wait.Ready(t.Context(), f, wait.ForExec("check"), long)
		require.ErrorIs(t, err, wait.ErrExited)
		assert.Contains(t, err.Error(), "exited with code 3 while waiting (last saw: exit code 126: "+out)
	}
}

func TestReadyWaitsBrieflyForTheDieEvent(t *testing.T) {
	// The strategy fails on its own, just before the die event arrives: the error
	// must name the exit, which is the cause.
	g := newFake()
	s := failing{func() { go g.exit(137, true) }}
	err := wait.Ready(t.Context(), g, s, long)
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exited with code 137 (out of memory) while waiting")
}

// failing is a strategy that calls before and then fails on its own.
type failing struct{ before func() }

func (f failing) WaitUntilReady(context.Context, wait.Target) error {
	f.before()
	return errors.New("connection reset")
}

func TestForExecKeepsTryingThroughExecErrors(t *testing.T) {
	f := newFake()
	var calls atomic.Int32
	f.exec = func(ctx context.Context, cmd []string) (wait.ExecResult, error) {
		if calls.Add(1) < 3 {
			return wait.ExecResult{}, errors.New("container is restarting")
		}
		return wait.ExecResult{}, nil
	}
	require.NoError(t, wait.ForExec("true").WaitUntilReady(t.Context(), f))
}

func TestForExecContainerDies(t *testing.T) {
	f := newFake()
	calls, _ := scriptedExec(f, 1)
	done := async(t.Context(), f, wait.ForExec("check"), long)
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.exit(139, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exec check: container fake-1 exited with code 139 while waiting")
}

func TestForExit(t *testing.T) {
	f := newFake()
	done := async(t.Context(), f, wait.ForExit(0), long)
	requirePending(t, done, "the container runs")
	f.exit(0, false)
	require.NoError(t, <-done, "an expected exit must not fail the wait")

	g := newFake()
	g.exit(0, false)
	require.NoError(t, wait.ForExit(0).WaitUntilReady(t.Context(), g), "exited before the wait began")
}

func TestForExitOtherCodeFailsAtOnce(t *testing.T) {
	f := newFake()
	f.tail = "migration 0042 failed"
	done := async(t.Context(), f, wait.ForExit(0), long)
	f.exit(3, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "exit with code 0: container fake-1 exited with code 3, want 0")
	assert.Contains(t, err.Error(), "migration 0042 failed")
}

func TestForExitTimeout(t *testing.T) {
	err := wait.Ready(t.Context(), newFake(), wait.ForExit(0).Timeout(10*time.Millisecond), long)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "exit with code 0: timed out after")
	assert.Contains(t, err.Error(), "still running")
}

func TestForFunc(t *testing.T) {
	f := newFake()
	var calls atomic.Int32
	s := wait.ForFunc(func(ctx context.Context, tg wait.Target) error {
		assert.Same(t, f, tg)
		if calls.Add(1) < 4 {
			return errors.New("cache empty")
		}
		return nil
	})
	require.NoError(t, wait.Ready(t.Context(), f, s, long))
	assert.EqualValues(t, 4, calls.Load())
	assert.Contains(t, s.String(), "func wait_test.TestForFunc.func")

	err := wait.Ready(t.Context(), f, wait.ForFunc(checkCache).Timeout(20*time.Millisecond), long)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "func wait_test.checkCache: timed out after")
	assert.Contains(t, err.Error(), "cache empty")
}

func checkCache(context.Context, wait.Target) error { return errors.New("cache empty") }

func TestForFuncContainerDies(t *testing.T) {
	f := newFake()
	var calls atomic.Int32
	done := async(t.Context(), f, wait.ForFunc(func(context.Context, wait.Target) error {
		calls.Add(1)
		return errors.New("no")
	}), long)
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.exit(1, false)
	require.ErrorIs(t, <-done, wait.ErrExited)
}

func TestExitBySIGKILLWaitsForTheOOMEvent(t *testing.T) {
	// The engine sends the die and oom events of one kill in either order: an exit
	// with code 137 seen first must still be reported as out of memory when the oom
	// event follows.
	for name, s := range map[string]wait.Strategy{
		"exec":           wait.ForExec("check"),
		"exit":           wait.ForExit(0),
		"log":            wait.ForLog("never"),
		"all of":         wait.All(wait.ForExec("check"), wait.ForLog("never")),
		"exit in any of": wait.Any(wait.ForExit(0), wait.ForLog("never")),
		"failing":        failing{func() {}},
	} {
		t.Run(name, func(t *testing.T) {
			for range 20 {
				f := newFake()
				f.log.end()
				f.exec = func(ctx context.Context, cmd []string) (wait.ExecResult, error) {
					return wait.ExecResult{ExitCode: 1}, nil
				}
				go func() {
					f.exit(137, false)
					time.Sleep(20 * time.Millisecond)
					f.setStatus(func(s *waitwire.Status) { s.OOMKilled = true })
				}()
				err := wait.Ready(t.Context(), f, s, long)
				require.ErrorIs(t, err, wait.ErrExited)
				assert.Contains(t, err.Error(), "exited with code 137 (out of memory)")
			}
		})
	}
}

func TestExitBySIGKILLWithoutOOMIsReported(t *testing.T) {
	// A kill that is not the OOM killer's is reported as it is, after the grace.
	f := newFake()
	f.exit(137, false)
	err := wait.Ready(t.Context(), f, wait.ForExit(0), long)
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exited with code 137, want 0")
	assert.NotContains(t, err.Error(), "out of memory")
}

func TestExitBySIGKILLOnAnEngineThatReportsNoOOM(t *testing.T) {
	// Podman 4 here reports no OOM kill: a memory-limited container's exit by SIGKILL
	// says that it may be one.
	f := newFake()
	f.setStatus(func(s *waitwire.Status) { s.OOMUnreported = true })
	f.exit(137, false)
	err := wait.Ready(t.Context(), f, wait.ForExit(0), long)
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exited with code 137 (SIGKILL: out of memory, or killed; the engine does not report which), want 0")

	// Another exit code says nothing of memory.
	g := newFake()
	g.setStatus(func(s *waitwire.Status) { s.OOMUnreported = true })
	g.exit(1, false)
	err = wait.Ready(t.Context(), g, wait.ForExit(0), long)
	require.ErrorIs(t, err, wait.ErrExited)
	assert.NotContains(t, err.Error(), "memory")
}

func TestExitBySIGKILLIsGivenOneGrace(t *testing.T) {
	// A log wait reports the exit itself, and Ready and All wrap its error: the grace
	// for an oom event is waited once, not once per layer (twice was 2 x the grace).
	for name, s := range map[string]wait.Strategy{
		"log":        wait.ForLog("never"),
		"all of log": wait.All(wait.ForLog("never")),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			f.log.end()
			f.exit(137, false)
			start := time.Now()
			err := wait.Ready(t.Context(), f, s, long)
			require.ErrorIs(t, err, wait.ErrExited)
			assert.Contains(t, err.Error(), "exited with code 137 while waiting")
			assert.Less(t, time.Since(start), wait.OOMGrace*3/2, "the oom grace was waited more than once")
		})
	}
}
