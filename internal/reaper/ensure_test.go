package reaper

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEnsureStartsWatchdogOnce(t *testing.T) {
	mustHaveEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, Ensure(ctx))
	readyMu.Lock()
	w := wd
	readyMu.Unlock()
	require.NotNil(t, w, "no watchdog after Ensure")
	require.NoError(t, Ensure(ctx))
	readyMu.Lock()
	require.Same(t, w, wd, "second Ensure started another watchdog")
	readyMu.Unlock()

	pgid, err := syscall.Getpgid(w.pid)
	require.NoError(t, err, "watchdog process")
	require.Equal(t, w.pid, pgid, "watchdog is not the leader of its own process group")
	require.NotEqual(t, syscall.Getpgrp(), pgid)
}
