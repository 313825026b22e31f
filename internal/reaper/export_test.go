//go:build linux

package reaper

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/containertest/containertest/internal/engine"
)

// Hooks for the external test package (helper_process_test.go), which needs
// internal/scope, an importer of this package.
var (
	CreateStack    = createStack
	MustHaveEngine = mustHaveEngine
)

// HelperEnv names the mode of TestHelperProcess.
const HelperEnv = helperEnv

// TestImage is the image the tests run.
const TestImage = testImage

// WatchdogPID returns the pid of this process's watchdog, 0 if none runs.
func WatchdogPID() int {
	readyMu.Lock()
	defer readyMu.Unlock()
	if wd == nil {
		return 0
	}
	return wd.pid
}

// Ready reports whether Ensure has succeeded and its watchdog still runs.
func Ready() bool { return ready.Load() }

// SweepResult waits for this process's background sweep and returns its outcome.
func SweepResult() ([]Ref, error) {
	<-sweepDone
	return sweepRemoved, sweepErr
}

// CheckWatchdogFDs fails t unless the watchdog pid has only /dev/null or its log file
// on fds 0, 1 and 2 (go test waits for the test's output to close), and a pipe on fd 3.
func CheckWatchdogFDs(t testing.TB, pid int) {
	t.Helper()
	for fd := range 3 {
		got, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
		if err != nil {
			t.Errorf("watchdog fd %d: %v", fd, err)
			continue
		}
		// Nothing but /dev/null or its log file: not the test's pipes, sockets or terminal.
		if got != os.DevNull && !strings.HasSuffix(got, ".log") {
			t.Errorf("watchdog fd %d is %s: it must not hold the test's output open", fd, got)
		}
	}
	got, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(watchdogFD))
	if err != nil || !strings.HasPrefix(got, "pipe:") {
		t.Errorf("watchdog fd %d is %q (%v), want the parent's pipe", watchdogFD, got, err)
	}
}

// RemoveRef removes one resource; gone already is not an error.
func RemoveRef(ctx context.Context, e *engine.Engine, r Ref) error {
	return removeOne(ctx, e.Client, r)
}
