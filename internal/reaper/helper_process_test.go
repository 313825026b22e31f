//go:build linux

package reaper_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
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

	require.NoError(t, reaper.Ensure(ctx))
	fmt.Printf("SESSION=%s\n", engine.SessionID())
	pid := reaper.WatchdogPID()
	require.NotZero(t, pid, "no watchdog after Ensure")
	fmt.Printf("WATCHDOG=%d\n", pid)
	reaper.CheckWatchdogFDs(t, pid)
	if !t.Failed() {
		fmt.Println("FDCHECK=ok")
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
