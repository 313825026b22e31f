package containers_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/wait"
)

// healthInterval returns the probe interval the engine runs for c.
func healthInterval(t *testing.T, c *containers.Container) time.Duration {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	info, err := eng.Client.ContainerInspect(t.Context(), c.ID())
	require.NoError(t, err)
	require.NotNil(t, info.Config.Healthcheck, "container has no health check")
	return info.Config.Healthcheck.Interval
}

// A health check without an interval would be probed every 30 s by the engine: the
// start timeout below is far shorter, so this fails unless the test default applies.
func TestHealthCheckWithoutIntervalIsProbedQuickly(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").
		HealthCheck(containers.Health{Test: []string{"CMD-SHELL", "test -e /bin/sh"}}).
		WaitFor(wait.ForHealthy()).
		StartTimeout(10 * time.Second).
		KillOnTeardown().
		Start(t)
	require.Equal(t, "healthy", containers.StatusOf(c).Health)
	if iv := healthInterval(t, c); iv == 0 || iv > time.Second {
		t.Errorf("probe interval %v, want the test default", iv)
	}
}

func TestHealthCheckExplicitIntervalKept(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").
		HealthCheck(containers.Health{Test: []string{"true"}, Interval: 250 * time.Millisecond}).
		WaitFor(wait.ForHealthy()).StartTimeout(10 * time.Second).
		Start(t)
	require.Equal(t, 250*time.Millisecond, healthInterval(t, c))
}

// The image's own HEALTHCHECK, with no interval, gets the same default when the spec
// waits for it.
func TestImageHealthCheckWithoutIntervalIsProbedQuickly(t *testing.T) {
	dir := t.TempDir()
	df := "FROM " + busybox + "\nHEALTHCHECK CMD test -e /bin/sh\nCMD [\"sleep\", \"60\"]\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
	spec := containers.Build(dir)
	c := spec.WaitFor(wait.ForHealthy()).StartTimeout(10 * time.Second).Start(t)
	require.Equal(t, "healthy", containers.StatusOf(c).Health)
	if iv := healthInterval(t, c); iv == 0 || iv > time.Second {
		t.Errorf("probe interval %v, want the test default", iv)
	}
	// Without ForHealthy the image's check is left as the image says.
	// (Docker reports an unset interval as 0; podman reports its default, 30 s.)
	plain := spec.WaitFor().Start(t)
	if iv := healthInterval(t, plain); iv != 0 && iv != 30*time.Second {
		t.Errorf("probe interval %v without ForHealthy, want the engine's default", iv)
	}
}
