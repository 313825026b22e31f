//go:build linux

package reaper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/initprobe"
)

// Each case runs a test process that creates a container, a network and a volume
// without registering any cleanup, then ends in its own way; the watchdog alone must
// remove them.
func TestWatchdogRemovesSessionWhenTestProcessEnds(t *testing.T) {
	e := mustHaveEngine(t)
	for _, c := range []struct {
		name, mode string
		env, flags []string
		end        func(t *testing.T, h *helperProc)
		wantErr    string // exit error, "" for success
		wantOut    string
		// wantOnce is in the output exactly once, when not "".
		wantOnce string
	}{
		{name: "pass", mode: "pass", wantOut: "--- PASS: TestHelperProcess"},
		{name: "fatal", mode: "fatal", wantErr: "exit status 1", wantOut: "helper fails on purpose"},
		{name: "panic", mode: "panic", wantErr: "exit status 2", wantOut: "panic: helper panics on purpose"},
		// Long enough to create the resources first on a loaded engine.
		{name: "timeout", mode: "hang", flags: []string{"-test.timeout=15s"},
			wantErr: "exit status 2", wantOut: "panic: test timed out after 15s"},
		{name: "sigkill", mode: "hang", wantErr: "signal: killed",
			end: func(t *testing.T, h *helperProc) { require.NoError(t, h.cmd.Process.Kill()) }},
		{name: "sigint to process group", mode: "hang", wantErr: "signal: interrupt",
			end: func(t *testing.T, h *helperProc) {
				// As a Ctrl-C does: the whole group of the test process. The watchdog
				// is in a group of its own and must survive it.
				require.NoError(t, syscall.Kill(-h.cmd.Process.Pid, syscall.SIGINT))
			}},
		// A package's init that reads testdata/ relative to the working directory runs
		// in the watchdog too (it is the test binary re-executed): it must work there as
		// it does in the test process.
		{name: "sigkill, an init reads testdata", mode: "hang", env: []string{initprobe.Env + "=read-testdata"},
			wantErr: "signal: killed",
			end:     func(t *testing.T, h *helperProc) { require.NoError(t, h.cmd.Process.Kill()) }},
		// The helper kills its watchdog while it runs: the death is reported once, and
		// a new watchdog cleans up after the SIGKILL that follows.
		{name: "sigkill after the watchdog was killed", mode: "watchdog-killed", wantErr: "signal: killed",
			wantOnce: "exited while the tests ran (signal: killed); started another",
			end:      func(t *testing.T, h *helperProc) { require.NoError(t, h.cmd.Process.Kill()) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := startHelper(t, c.mode, c.env, c.flags...)
			t.Cleanup(func() { removeLabelled(t, e, sessionFilter(h.Session)) })
			require.Contains(t, h.out.String(), "FDCHECK=ok")
			ctx := context.Background()
			assert.ElementsMatch(t, h.Stack.refs(), refsOf(ctx, t, e, sessionFilter(h.Session)),
				"the helper's resources before it ends")
			if c.end != nil {
				c.end(t, h)
			}
			err, out := h.wait(t)
			if c.wantErr == "" {
				require.NoError(t, err, out)
			} else {
				require.ErrorContains(t, err, c.wantErr, out)
			}
			require.Contains(t, out, c.wantOut)
			if c.wantOnce != "" {
				require.Equal(t, 1, strings.Count(out, c.wantOnce), "want %q once in:\n%s", c.wantOnce, out)
			}
			waitCleaned(t, e, sessionFilter(h.Session), h.Watchdog)
			waitProcessGone(t, h.Watchdog, time.Minute)
		})
	}
}

func TestEnsureReturnsFailureAndRetries(t *testing.T) {
	mustHaveEngine(t)
	h := startHelper(t, "ensure-retry", nil)
	err, out := h.wait(t)
	require.NoError(t, err, out)
	require.Contains(t, out, "READY")
	waitProcessGone(t, h.Watchdog, time.Minute)
}

func TestEnsureStartsOneWatchdogAndRestartsIt(t *testing.T) {
	mustHaveEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, Ensure(ctx))
	first := WatchdogPID()
	require.NotZero(t, first, "no watchdog after Ensure")
	require.NoError(t, Ensure(ctx))
	require.Equal(t, first, WatchdogPID(), "a second Ensure started another watchdog")

	pgid, err := syscall.Getpgid(first)
	require.NoError(t, err, "watchdog process")
	require.Equal(t, first, pgid, "the watchdog leads a process group of its own")
	CheckWatchdogFDs(t, first)

	// A watchdog that dies is noticed (and reaped), reported once, and replaced at once.
	ResetRestarts()
	var report syncBuffer
	t.Cleanup(SetReportOutput(writerFunc(report.WriteString)))
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	var second int
	require.Eventually(t, func() bool {
		second = WatchdogPID()
		return second != 0 && second != first
	}, 30*time.Second, 10*time.Millisecond, "no new watchdog after the first was killed")
	require.True(t, Ready())
	waitProcessGone(t, first, 5*time.Second)
	require.False(t, processGone(second, ""), "the new watchdog is not running")
	CheckWatchdogFDs(t, second)
	require.NoError(t, Ensure(ctx))
	require.Equal(t, second, WatchdogPID())
	require.Equal(t, fmt.Sprintf("containertest: crash cleanup: the watchdog (pid %d) exited while the tests ran (signal: killed); started another (pid %d)\n", first, second),
		report.String())
}

type writerFunc func(string)

func (f writerFunc) Write(b []byte) (int, error) { f(string(b)); return len(b), nil }

// A watchdog whose init exits or blocks (a user package's init that fails in a second
// process) is reported once, by the first Ensure, with the watchdog's output; the test
// process goes on without it, and what it leaves after a SIGKILL is removed by the
// sweep of the next test process: crash safety is degraded loudly, never lost silently.
// The same holds for a watchdog killed once the process has replaced maxRestarts.
func TestWatchdogThatDiesEarlyIsReportedOnce(t *testing.T) {
	e := mustHaveEngine(t)
	for _, c := range []struct{ name, mode, init, report string }{
		{"init exits", "watchdog-exits-early", "exit-in-watchdog", "exited before it was ready (exit status 3)"},
		{"init blocks", "watchdog-blocks", "hang-in-watchdog", "was not ready after 2s and was killed"},
		// Not early, but the same loss: a death once the replacements are used up.
		{"killed once too often", "watchdog-killed-too-often", "",
			"exited while the tests ran (signal: killed); it was replaced 3 times already, so no other is started"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := startHelper(t, c.mode, []string{initprobe.Env + "=" + c.init})
			t.Cleanup(func() { removeLabelled(t, e, sessionFilter(h.Session)) })
			require.NoError(t, h.cmd.Process.Kill())
			err, out := h.wait(t)
			require.ErrorContains(t, err, "signal: killed", out)
			require.Equal(t, 1, strings.Count(out, c.report), "want %q once in:\n%s", c.report, out)
			if c.init != "" {
				require.Equal(t, 1, strings.Count(out, ErrWatchdogNotReady.Error()), out)
			}
			require.Equal(t, 1, strings.Count(out, degradedHint), "the report says what that means once:\n%s", out)

			s := startHelper(t, "sweep", nil)
			err, out = s.wait(t)
			require.NoError(t, err, out)
			// This sweep, or another test process's that came first, removed them.
			waitGone(t, e, sessionFilter(h.Session), 30*time.Second)
		})
	}
}

// The first resource of a process is made while its watchdog gets ready
// (BeginOverlapped). A test process killed before the watchdog is ready, resources made,
// is cleaned up all the same once it is; and one that settled is covered as after Ensure.
func TestWatchdogCoversResourcesMadeWhileItGetsReady(t *testing.T) {
	e := mustHaveEngine(t)
	for _, settle := range []bool{false, true} {
		name := "killed before the watchdog was ready"
		if settle {
			name = "killed after settle"
		}
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "go")
			env := []string{initprobe.Env + "=wait-in-watchdog", initprobe.EnvFile + "=" + file}
			if settle {
				env = append(env, "REAPER_TEST_SETTLE=1")
			}
			h := startHelper(t, "overlapped", env)
			t.Cleanup(func() { removeLabelled(t, e, sessionFilter(h.Session)) })
			ctx := context.Background()
			assert.ElementsMatch(t, h.Stack.refs(), refsOf(ctx, t, e, sessionFilter(h.Session)),
				"the helper's resources before it ends")
			require.NoError(t, h.cmd.Process.Kill())
			err, out := h.wait(t)
			require.ErrorContains(t, err, "signal: killed", out)
			if !settle {
				// The parent is gone before its watchdog is ready.
				require.NoError(t, os.WriteFile(file, nil, 0o644))
			}
			waitCleaned(t, e, sessionFilter(h.Session), h.Watchdog)
			waitProcessGone(t, h.Watchdog, time.Minute)
		})
	}
}
