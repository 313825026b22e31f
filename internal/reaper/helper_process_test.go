//go:build linux

package reaper_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	// Its init plays a user package's init in this binary and in its watchdogs.
	"github.com/containertest/containertest/internal/initprobe"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/internal/scope"
)

// TestHelperProcess is not a test: the other tests run this test binary again with
// REAPER_TEST_HELPER=<mode> to play a test process that creates resources and then
// ends in the way the mode says. It prints KEY=value lines for the parent:
// SESSION, WATCHDOG (pid), STACK (what it created), SWEPT (what its sweep removed),
// and READY once it is set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(reaper.HelperEnv)
	if mode == "" {
		t.Skip("runs only as a subprocess of the other tests")
	}
	e := reaper.MustHaveEngine(t)
	ctx := context.Background()

	if mode == "ensure-retry" {
		t.Setenv(reaper.EnvKeep, "sometimes")
		require.ErrorContains(t, reaper.Ensure(ctx), "CONTAINERTEST_KEEP")
		require.False(t, reaper.Ready())
		require.Zero(t, reaper.WatchdogPID(), "a failed Ensure started a watchdog")
		t.Setenv(reaper.EnvKeep, "")
		t.Setenv(reaper.EnvReaper, "maybe")
		require.ErrorContains(t, reaper.Ensure(ctx), "CONTAINERTEST_REAPER")
		require.Zero(t, reaper.WatchdogPID())
		t.Setenv(reaper.EnvReaper, "on")
	}

	if mode == "overlapped" {
		// BeginOverlapped returns while the watchdog waits in its init for the file
		// initprobe.EnvFile names: the resources are made before it is ready.
		_, labels, settle, err := reaper.BeginOverlapped(ctx, nil, "")
		require.NoError(t, err)
		require.False(t, reaper.Ready(), "BeginOverlapped waited for the watchdog")
		kids := children(t)
		require.Len(t, kids, 1, "watchdog processes")
		fmt.Printf("SESSION=%s\nWATCHDOG=%d\n", engine.SessionID(), kids[0])
		s := reaper.CreateStack(ctx, t, e, "ctreaper-"+engine.SessionID(), labels)
		fmt.Printf("STACK=%s %s %s %s %s\n", s.ContainerName, s.Container.ID, s.NetworkName, s.Network.ID, s.VolumeName)
		if os.Getenv("REAPER_TEST_SETTLE") == "1" {
			require.NoError(t, os.WriteFile(os.Getenv(initprobe.EnvFile), nil, 0o644))
			require.NoError(t, settle(ctx))
			require.True(t, reaper.Ready())
			require.Equal(t, kids[0], reaper.WatchdogPID(), "the watchdog after settle")
			require.NoError(t, reaper.Ensure(ctx))
			require.Equal(t, 1, reaper.WatchdogStarts(), "watchdogs started")
		}
		fmt.Println("READY")
		time.Sleep(time.Hour)
		return
	}
	if mode == "watchdog-exits-early" || mode == "watchdog-blocks" {
		// The watchdog's init exits or blocks (REAPER_TEST_INIT): the first Ensure
		// reports it, later ones go on without a watchdog and start no other.
		want := "initprobe: init exits on purpose in the watchdog" // its output
		if mode == "watchdog-blocks" {
			reaper.SetReadyTimeout(2 * time.Second)
			want = "was not ready after 2s and was killed"
		}
		err := reaper.Ensure(ctx)
		fmt.Printf("ENSURE=%v\n", err)
		require.ErrorIs(t, err, reaper.ErrWatchdogNotReady, "Ensure with a watchdog that exited in its init")
		require.Contains(t, err.Error(), want)
		for range 3 {
			require.NoError(t, reaper.Ensure(ctx), "Ensure after the report")
		}
		require.Zero(t, reaper.WatchdogPID(), "a watchdog runs")
		require.Equal(t, 1, reaper.WatchdogStarts(), "watchdogs started")
		require.Empty(t, children(t), "processes left of the watchdog")
		fmt.Printf("SESSION=%s\n", engine.SessionID())
		mode = "hang"
	} else {
		require.NoError(t, reaper.Ensure(ctx))
		fmt.Printf("SESSION=%s\n", engine.SessionID())
		pid := reaper.WatchdogPID()
		require.NotZero(t, pid, "no watchdog after Ensure")
		fmt.Printf("WATCHDOG=%d\n", pid)
		reaper.CheckWatchdogFDs(t, pid)
		if !t.Failed() {
			fmt.Println("FDCHECK=ok")
		}
	}

	switch mode {
	case "ensure-retry":
		fmt.Println("READY")
		return
	case "sweep":
		swept, err := reaper.SweepResult()
		for _, r := range swept {
			fmt.Printf("SWEPT=%s %s\n", r.Kind, r.ID)
		}
		require.NoError(t, err, "sweep")
		fmt.Println("READY")
		return
	}

	s := reaper.CreateStack(ctx, t, e, "ctreaper-"+engine.SessionID(), reaper.Labels())
	fmt.Printf("STACK=%s %s %s %s %s\n", s.ContainerName, s.Container.ID, s.NetworkName, s.Network.ID, s.VolumeName)
	if mode == "keep" {
		// As the containers, network and volume packages do: the test's scope removes
		// or keeps them.
		for _, r := range []struct {
			kind scope.Kind
			ref  reaper.Ref
		}{{scope.Container, s.Container}, {scope.Network, s.Network}, {scope.Volume, s.Volume}} {
			scope.Add(t, scope.Resource{Kind: r.kind, Name: r.ref.String(), ID: r.ref.ID,
				Remove: func(ctx context.Context) error { return removeRef(ctx, e, r.ref) }})
		}
	}
	if mode == "watchdog-killed" {
		// A watchdog killed while the tests run is replaced at once, before any
		// further Ensure: a crash right after it is still cleaned up.
		first := reaper.WatchdogPID()
		require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
		var second int
		require.Eventually(t, func() bool {
			second = reaper.WatchdogPID()
			return second != 0 && second != first
		}, 30*time.Second, 10*time.Millisecond, "no new watchdog after the first was killed")
		reaper.CheckWatchdogFDs(t, second)
		fmt.Printf("WATCHDOG=%d\n", second)
		mode = "hang"
	}
	if mode == "watchdog-killed-too-often" {
		// It has replaced as many watchdogs as it may: the next death is reported, and
		// the process goes on without one.
		reaper.UseUpRestarts()
		first := reaper.WatchdogPID()
		require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
		require.Eventually(t, func() bool { return reaper.WatchdogPID() == 0 },
			30*time.Second, 10*time.Millisecond, "the watchdog's death went unnoticed")
		require.NoError(t, reaper.Ensure(ctx))
		require.Zero(t, reaper.WatchdogPID(), "a watchdog was started")
		require.Equal(t, 1, reaper.WatchdogStarts(), "watchdogs started")
		mode = "hang"
	}
	fmt.Println("READY")

	switch mode {
	case "pass":
	case "keep":
		if os.Getenv(reaper.EnvKeep) == "failed" {
			t.Error("helper fails on purpose")
		}
	case "fatal":
		t.Fatal("helper fails on purpose")
	case "panic":
		panic("helper panics on purpose")
	case "hang":
		time.Sleep(time.Hour)
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

func removeRef(ctx context.Context, e *engine.Engine, r reaper.Ref) error {
	return reaper.RemoveRef(ctx, e, r)
}

// children returns the pids of this process's child processes.
func children(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimPrefix(filepath.Dir(p), "/proc/"))
		out = append(out, pid)
	}
	return out
}
