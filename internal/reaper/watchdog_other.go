//go:build !unix

package reaper

import (
	"errors"
	"runtime"
)

// A watchdog is the parent's handle on a running watchdog process.
type watchdog struct{ pid int }

func (w *watchdog) close() {}

// startWatchdog fails: starting a process in its own process group that outlives its
// parent is only implemented for unix systems.
func startWatchdog(session string) (*watchdog, error) {
	return nil, errors.New("watchdog not supported on " + runtime.GOOS)
}
