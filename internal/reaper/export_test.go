//go:build linux

package reaper

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// Ready reports whether Ensure has done its work: later calls return at once.
func Ready() bool { return ready.Load() }

// WatchdogStarts returns how many watchdog processes this process started.
func WatchdogStarts() int { return int(watchdogStarts.Load()) }

// ResetRestarts forgets the watchdogs this process replaced, so that a test run again
// in the same process (-count) may replace maxRestarts more.
func ResetRestarts() {
	readyMu.Lock()
	defer readyMu.Unlock()
	restarts = 0
}

// UseUpRestarts makes this process replace no more watchdogs.
func UseUpRestarts() {
	readyMu.Lock()
	defer readyMu.Unlock()
	restarts = maxRestarts
}

// SetReadyTimeout sets how long a new watchdog has to get ready.
func SetReadyTimeout(d time.Duration) { readyTimeout = d }

// SetReportOutput sends the reports of watchdogs that died to w until restore is called.
func SetReportOutput(w io.Writer) (restore func()) {
	readyMu.Lock()
	defer readyMu.Unlock()
	old := reportTo
	reportTo = w
	return func() {
		readyMu.Lock()
		defer readyMu.Unlock()
		reportTo = old
	}
}

// SweepResult waits for this process's background sweep and returns its outcome.
func SweepResult() ([]Ref, error) {
	<-sweepDone
	return sweepRemoved, sweepErr
}

// CheckWatchdogFDs fails t unless the watchdog pid has only /dev/null or its log file
// on fds 0, 1 and 2 (go test waits for the test's output to close), a pipe on fd 3 and
// nothing on fd 4, and its working directory is /.
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
	if got, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(readyFD)); err == nil {
		t.Errorf("watchdog fd %d is still open (%s) once it is ready", readyFD, got)
	}
	// It started in the tests' directory, for the init functions, and left it.
	if got, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err != nil || got != "/" {
		t.Errorf("watchdog working directory is %q (%v), want /", got, err)
	}
}

// RemoveRef removes one resource; gone already is not an error.
func RemoveRef(ctx context.Context, e *engine.Engine, r Ref) error {
	return removeOne(ctx, e.Client, r, "")
}
