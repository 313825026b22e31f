//go:build linux

package reaper

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each case runs a test process that creates a container, a network and a volume
// without registering any cleanup, then ends in its own way; the watchdog alone must
// remove them.
func TestWatchdogRemovesSessionWhenTestProcessEnds(t *testing.T) {
	e := mustHaveEngine(t)
	for _, c := range []struct {
		name, mode string
		flags      []string
		end        func(t *testing.T, h *helperProc)
		wantErr    string // exit error, "" for success
		wantOut    string
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
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := startHelper(t, c.mode, nil, c.flags...)
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

	// A watchdog that dies is noticed (and reaped) and the next Ensure starts another.
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	require.Eventually(t, func() bool { return !Ready() }, 5*time.Second, 10*time.Millisecond,
		"the death of the watchdog went unnoticed")
	waitProcessGone(t, first, 5*time.Second)
	require.NoError(t, Ensure(ctx))
	second := WatchdogPID()
	require.NotZero(t, second)
	require.NotEqual(t, first, second)
	require.False(t, processGone(second, ""), "the new watchdog is not running")
}
