package containers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/events"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// tdCleanShutdown is a busybox shell that, on SIGTERM, writes "clean" to /data/marker
// and exits: a database flushing its files on a clean shutdown.
// It says "trapping" once the trap is set: a SIGTERM before that would kill the shell
// without a marker, which is no fault of teardown's.
const tdCleanShutdown = "trap 'echo clean > /data/marker; exit 0' TERM; echo trapping; while :; do sleep 1 & wait $!; done"

// tdMarker reads /data/marker of vol from a second container ("" when there is none).
func tdMarker(t *testing.T, vol *volume.Volume) string {
	t.Helper()
	c := containers.Image(busybox).Mount(vol, "/data").Cmd("sh", "-c", nvIdle).Start(t)
	res, err := c.Exec(t.Context(), "sh", "-c", "cat /data/marker 2>/dev/null || true")
	require.NoError(t, err)
	return strings.TrimSpace(res.Stdout)
}

// tdKillSignals lists the signals the engine sent to the container named name since
// since, in order, as its event stream recorded them ("15" for SIGTERM, "9" for SIGKILL).
// Podman 4.3 records no kill events: the test ends there (skipped) on podman, after
// what it checked of the data.
func tdKillSignals(t *testing.T, name string, since time.Time) []string {
	t.Helper()
	if testimages.IsPodman(t) {
		t.Skip("podman records no kill events: the signals sent cannot be read")
	}
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	msgs, errs := eng.Client.Events(ctx, events.ListOptions{
		Since:   since.Format(time.RFC3339Nano),
		Until:   time.Now().Add(time.Second).Format(time.RFC3339Nano),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("container", name), filters.Arg("event", "kill")),
	})
	var sigs []string
	for {
		select {
		case m := <-msgs:
			sigs = append(sigs, m.Actor.Attributes["signal"])
		case err := <-errs:
			if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "EOF") {
				require.NoError(t, err)
			}
			return sigs
		}
	}
}

// TestTeardownStopsVolumeWritersGracefully: a container that writes to a named volume
// gets its stop signal, and time to act on it, before it is removed, both at the end of
// its test and on Terminate; the data it writes then is on the volume afterwards.
func TestTeardownStopsVolumeWritersGracefully(t *testing.T) {
	containers.RequireDocker(t)
	db := containers.Image(busybox).Cmd("sh", "-c", tdCleanShutdown).WaitFor(wait.ForLog("trapping"))

	t.Run("test end", func(t *testing.T) {
		vol := volume.New(t)
		var name string
		since := time.Now()
		t.Run("db", func(t *testing.T) {
			name = db.Mount(vol, "/data").Start(t).Name()
		})
		assert.Equal(t, "clean", tdMarker(t, vol), "the database got no clean shutdown")
		assert.Equal(t, "15", first(tdKillSignals(t, name, since)), "the first signal is SIGTERM")
	})
	t.Run("terminate", func(t *testing.T) {
		vol := volume.New(t)
		c := db.Mount(vol, "/data").Start(t)
		require.NoError(t, c.Terminate(t.Context()))
		assert.Equal(t, "clean", tdMarker(t, vol))
	})
	t.Run("bind mount", func(t *testing.T) {
		dir := t.TempDir()
		since := time.Now()
		c := db.Bind(dir, "/data").Start(t)
		require.NoError(t, c.Terminate(t.Context()))
		assert.Equal(t, "15", first(tdKillSignals(t, c.Name(), since)))
	})
	t.Run("KillOnTeardown", func(t *testing.T) {
		vol := volume.New(t)
		since := time.Now()
		c := db.Mount(vol, "/data").KillOnTeardown().Start(t)
		require.NoError(t, c.Terminate(t.Context()))
		assert.Empty(t, tdMarker(t, vol), "KillOnTeardown stopped it gracefully")
		assert.NotContains(t, tdKillSignals(t, c.Name(), since), "15")
	})
	t.Run("GracefulStop(0)", func(t *testing.T) {
		vol := volume.New(t)
		since := time.Now()
		c := db.Mount(vol, "/data").GracefulStop(0).Start(t)
		require.NoError(t, c.Terminate(t.Context()))
		// Zero means no grace, as for Stop: no time to write the marker (SIGKILL may
		// still follow a SIGTERM at once, as "docker stop -t 0" does).
		assert.Equal(t, "9", last(tdKillSignals(t, c.Name(), since)))
	})
}

// TestTeardownKillsDisposableContainers: without persistent storage (none, a tmpfs, a
// read-only bind), teardown kills at once: no stop signal first.
func TestTeardownKillsDisposableContainers(t *testing.T) {
	containers.RequireDocker(t)
	specs := map[string]containers.Spec{
		"plain": containers.Image(busybox),
		"tmpfs": containers.Image(busybox).Tmpfs("/data"),
		"read-only bind": containers.Image(busybox).Bind(t.TempDir(), "/data", containers.ReadOnlyMount()).
			Tmpfs("/scratch"),
		"read-only volume": containers.Image(busybox).Mount(volume.New(t), "/data", containers.ReadOnlyMount()),
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			since := time.Now()
			c := spec.Cmd("sh", "-c", nvIdle).Start(t)
			require.NoError(t, c.Terminate(t.Context()))
			assert.Equal(t, []string{"9"}, tdKillSignals(t, c.Name(), since))
		})
	}
}

// TestStopTimeoutZeroMeansNoGrace: Stop(ctx, 0) kills at once (it used to mean the
// engine's 10 s), as GracefulStop(0) does; a negative timeout is an error.
func TestStopTimeoutZeroMeansNoGrace(t *testing.T) {
	containers.RequireDocker(t)
	// A process that ignores SIGTERM: only SIGKILL stops it.
	c := containers.Image(busybox).Cmd("sh", "-c", "trap '' TERM; while :; do sleep 1 & wait $!; done").Start(t)
	err := c.Stop(t.Context(), -time.Second)
	require.ErrorContains(t, err, "negative")
	err = c.Restart(t.Context(), -time.Second)
	require.ErrorContains(t, err, "negative")
	require.ErrorContains(t, containers.Image(busybox).GracefulStop(-time.Second).Err(), "negative")

	since := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	// Not a timing assertion: the engine would wait 10 s before its SIGKILL, beyond ctx.
	require.NoError(t, c.Stop(ctx, 0))
	assert.Equal(t, "9", last(tdKillSignals(t, c.Name(), since)))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
