package containers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
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
	"github.com/containertest/containertest/wait"
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
// see nothing another test did in its container: with a fixed size and self-sizing.
func TestPoolIsolatesParallelTests(t *testing.T) {
	containers.RequireDocker(t)
	for name, size := range map[string]int{"size2": 2, "auto": 0} {
		t.Run(name, func(t *testing.T) {
			spec, tag := poolSpec(t)
			pool := containers.NewPool(spec, size)
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
		})
	}
}

// poolWatch records what a pool wants and holds after each top-up.
type poolWatch struct {
	mu                    sync.Mutex
	maxPending, maxTarget int
	targets               []int
}

func watchPool(t *testing.T, p *containers.Pool) *poolWatch {
	t.Helper()
	w := &poolWatch{}
	containers.ObservePool(t, p, func(pending, target int) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.maxPending = max(w.maxPending, pending)
		w.maxTarget = max(w.maxTarget, target)
		if n := len(w.targets); n == 0 || w.targets[n-1] != target {
			w.targets = append(w.targets, target)
		}
	})
	return w
}

func (w *poolWatch) get() (maxPending, maxTarget int, targets []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxPending, w.maxTarget, slices.Clone(w.targets)
}

// runSequential runs n subtests one after the other, each taking a container from pool
// and working for work; it returns the ids of the containers handed out.
func runSequential(t *testing.T, pool *containers.Pool, n int, work time.Duration) map[string]bool {
	t.Helper()
	handed := map[string]bool{}
	for i := range n {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := pool.Get(t)
			require.False(t, handed[c.ID()], "container %s handed out twice", c.Name())
			handed[c.ID()] = true
			time.Sleep(work)
		})
	}
	return handed
}

// A self-sizing pool whose tests take much less time than a start grows past its
// initial 2, up to its maximum and never beyond. Its containers get ready two seconds
// after they start, inside the container: a start that overlaps others well, so that
// more at once does help, whatever the engine's speed.
func TestPoolAutoGrowsWhenTestsAreFasterThanStarts(t *testing.T) {
	containers.RequireDocker(t)
	tag := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	spec := containers.Image(busybox).Cmd("sh", "-c", "sleep 2; echo ready; exec sleep 300").
		Label("pooltest", tag).WaitFor(wait.ForLog("ready"))
	pool := containers.NewPool(spec, 0)
	w := watchPool(t, pool)
	t0 := time.Now()
	handed := runSequential(t, pool, 16, 20*time.Millisecond)
	elapsed := time.Since(t0)
	maxPending, maxTarget, targets := w.get()
	t.Logf("16 tests in %v; targets in turn %v; most pending %d", elapsed.Round(time.Millisecond), targets, maxPending)

	// The containers not handed out are the pool's spares, starting or ready.
	spares := 0
	for _, c := range labelled(t, "pooltest", tag) {
		if !handed[c.ID] {
			spares++
		}
	}
	assert.LessOrEqual(t, spares, containers.PoolAutoMax, "spares on the engine")
	require.NoError(t, pool.Close())
	assert.Empty(t, labelled(t, "pooltest", tag), "Close left containers")

	assert.GreaterOrEqual(t, maxTarget, 4, "the pool did not grow although its tests took 20 ms against starts of over two seconds")
	assert.LessOrEqual(t, maxTarget, containers.PoolAutoMax)
	assert.LessOrEqual(t, maxPending, containers.PoolAutoMax, "more containers starting or ready than the maximum")
	// 16 starts of over two seconds each, one after another, take over 32 s.
	assert.Less(t, elapsed, 32*time.Second, "the pool's starts did not overlap")
}

// A self-sizing pool whose tests take several times as long as a start keeps at most
// two containers starting or ready.
func TestPoolAutoStaysSmallWhenTestsAreSlow(t *testing.T) {
	containers.RequireDocker(t)
	spec, tag := poolSpec(t)
	pool := containers.NewPool(spec, 0)
	w := watchPool(t, pool)
	runSequential(t, pool, 4, 2*time.Second)
	maxPending, maxTarget, targets := w.get()
	t.Logf("targets in turn %v; most pending %d", targets, maxPending)
	require.NoError(t, pool.Close())
	assert.Empty(t, labelled(t, "pooltest", tag), "Close left containers")
	assert.LessOrEqual(t, maxTarget, 2, "the pool grew although its tests took longer than its starts")
	assert.LessOrEqual(t, maxPending, 2)
	assert.GreaterOrEqual(t, maxTarget, 1)
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
