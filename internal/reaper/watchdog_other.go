//go:build !unix

package reaper

import (
	"context"
	"errors"
	"runtime"
)

// A watchdog is the parent's handle on a running watchdog process.
type watchdog struct{ pid int }

func (w *watchdog) close() {}

// A spawned watchdog never exists here.
type spawned struct{}

// spawnWatchdog fails: starting a process in its own process group that outlives its
// parent is only implemented for unix systems.
func spawnWatchdog(session string) (*spawned, error) {
	return nil, errors.New("watchdog not supported on " + runtime.GOOS)
}

func (*spawned) wait(ctx context.Context, died func(*watchdog, error)) (*watchdog, error) {
	return nil, errors.New("watchdog not supported on " + runtime.GOOS)
}
