package containers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
)

// labelled lists every container (any session) carrying label key=value.
func labelled(t *testing.T, key, value string) []container.Summary {
	t.Helper()
	eng, err := engine.Get(context.Background())
	require.NoError(t, err)
	list, err := eng.Client.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", key+"="+value)),
	})
	require.NoError(t, err)
	return list
}

func poolSpec(t *testing.T) (containers.Spec, string) {
	tag := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	return containers.Image(busybox).Cmd("sleep", "300").Label("pooltest", tag).WaitFor(), tag
}

// Parallel tests each get a container of their own, never one another test had, and
// see nothing another test did in its container.
func TestPoolIsolatesParallelTests(t *testing.T) {
	containers.RequireDocker(t)
	spec, tag := poolSpec(t)
	pool := containers.NewPool(spec, 2)
	var (
		mu   sync.Mutex
		seen = map[string]string{}
	)
	t.Run("group", func(t *testing.T) {
		for i := range 6 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				c := pool.Get(t)
				mu.Lock()
				if other, dup := seen[c.ID()]; dup {
					t.Errorf("container %s handed out twice: to %s and %s", c.Name(), other, t.Name())
				}
				seen[c.ID()] = t.Name()
				mu.Unlock()
				r, err := c.Exec(t.Context(), "sh", "-c", "ls /marker-* 2>/dev/null; touch /marker-"+fmt.Sprint(i))
				require.NoError(t, err)
				assert.Empty(t, strings.TrimSpace(r.Stdout), "a fresh container holds another test's files")
			})
		}
	})
	require.Len(t, seen, 6)
	require.NoError(t, pool.Close())
	assert.Empty(t, labelled(t, "pooltest", tag), "Close left containers, handed out or spare")
}

func TestPoolGetAfterCloseFails(t *testing.T) {
	containers.RequireDocker(t)
	spec, tag := poolSpec(t)
	pool := containers.NewPool(spec, 1)
	require.NoError(t, pool.Prewarm())
	require.NoError(t, pool.Close())
	require.NoError(t, pool.Close(), "a second Close")
	require.ErrorIs(t, pool.Prewarm(), containers.ErrPoolClosed)
	assert.Empty(t, labelled(t, "pooltest", tag))
}

func TestPoolRejectsBadInput(t *testing.T) {
	require.ErrorContains(t, containers.NewPool(containers.Image(busybox), -1).Prewarm(), "pool size -1")
	require.ErrorContains(t, containers.NewPool(containers.Image(busybox).Named("x"), 1).Prewarm(), "Named")
}

// TestHelperPoolProcess takes a pooled container and dies by SIGKILL with it and the
// pool's spares running: the watchdog must remove them all.
func TestHelperPoolProcess(t *testing.T) {
	tag := os.Getenv("CONTAINERTEST_POOL_HELPER")
	if tag == "" {
		t.Skip("helper for TestPoolContainersRemovedAfterCrash")
	}
	pool := containers.NewPool(containers.Image(busybox).Cmd("sleep", "300").Label("pooltest", tag).WaitFor(), 2)
	c := pool.Get(t)
	require.NoError(t, pool.Prewarm())
	for len(labelled(t, "pooltest", tag)) < 3 {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("TAKEN=%s\n", c.ID())
	p, _ := os.FindProcess(os.Getpid())
	_ = p.Kill()
	select {}
}

func TestPoolContainersRemovedAfterCrash(t *testing.T) {
	containers.RequireDocker(t)
	tag := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPoolProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONTAINERTEST_POOL_HELPER="+tag)
	out, _ := cmd.CombinedOutput()
	taken := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TAKEN="); ok {
			taken = v
		}
	}
	require.NotEmpty(t, taken, "the helper took no container:\n%s", out)
	deadline := time.Now().Add(time.Minute)
	for len(labelled(t, "pooltest", tag)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	assert.Empty(t, labelled(t, "pooltest", tag), "the watchdog left pooled containers of a killed process")
}
