package containers_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/network"
)

// TestHelperKeepProcess is the failing test that TestKeepFailedKeepsTheStack runs in a
// subprocess.
func TestHelperKeepProcess(t *testing.T) {
	if os.Getenv("CONTAINERTEST_KEEP_HELPER") != "1" {
		t.Skip("helper for TestKeepFailedKeepsTheStack")
	}
	net := network.New(t)
	c := containers.Image(busybox).On(net, "kept-db").Cmd("sleep", "300").WaitFor().Start(t)
	t.Logf("started %s", c.Name())
	t.Fatal("failing on purpose")
}

func TestKeepFailedKeepsTheStack(t *testing.T) {
	containers.RequireDocker(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKeepProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"CONTAINERTEST_KEEP_HELPER=1",
		"CONTAINERTEST_KEEP=failed",
		"CONTAINERTEST_CACHE_DIR="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the helper test should fail: %s", out)

	m := regexp.MustCompile(`docker exec -it (\S+) sh`).FindSubmatch(out)
	require.NotNil(t, m, "no way in was printed:\n%s", out)
	name := string(m[1])
	assert.Contains(t, string(out), "docker logs -f "+name)
	assert.Contains(t, string(out), "kept-db", "the report names the network alias")
	assert.Regexp(t, `remove them: docker rm -f -v `, string(out))

	// The watchdog of the finished helper process has run by now (it reacts to the
	// process's end); the kept container must still be there and running.
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	time.Sleep(2 * time.Second) // give a wrongly acting watchdog the time to do harm
	info, err := eng.Client.ContainerInspect(t.Context(), name)
	require.NoError(t, err, "the kept container is gone")
	assert.True(t, info.State.Running)

	// Any other test process on this host sweeps at its start, whatever its cache
	// directory: the default one, or one of its own. Neither may take the kept stack.
	for _, dir := range []string{"", t.TempDir()} {
		t.Setenv("CONTAINERTEST_CACHE_DIR", dir)
		swept, err := reaper.Sweep(t.Context(), eng)
		if err != nil {
			t.Logf("sweep: %v", err) // others' resources may be mid-removal
		}
		assert.NotContains(t, swept, reaper.Ref{Kind: reaper.Container, ID: info.ID}, "a sweep took the kept container")
		_, err = eng.Client.ContainerInspect(t.Context(), info.ID)
		require.NoError(t, err, "the kept container is gone after a sweep with cache dir %q", dir)
	}

	// Clean up what the helper kept: the container, then its networks.
	ctx := context.Background()
	require.NoError(t, eng.Client.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}))
	for n := range info.NetworkSettings.Networks {
		if n != "bridge" {
			assert.NoError(t, eng.Client.NetworkRemove(ctx, n))
		}
	}
}
