package containers_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// TestMountOptionsOnTheWrongMount: options that do not apply to a mount were silently
// ignored; now they are input errors that name the option.
func TestMountOptionsOnTheWrongMount(t *testing.T) {
	err := containers.Image(busybox).Bind(t.TempDir(), "/data", containers.TmpfsSize(1<<20)).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TmpfsSize applies only to Tmpfs")

	err = containers.Image(busybox).Tmpfs("/scratch", containers.ReadOnlyMount()).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ReadOnlyMount applies only to volume and bind mounts")

	assert.NoError(t, containers.Image(busybox).
		Bind(t.TempDir(), "/data", containers.ReadOnlyMount()).
		Tmpfs("/scratch", containers.TmpfsSize(1<<20)).Err())
}

// TestGroupBoundsParallelStarts: a Group's MaxParallel is its own (no shared global):
// two groups with different limits run at the same time, and neither ever has more
// containers starting at once than its limit, while reaching it.
func TestGroupBoundsParallelStarts(t *testing.T) {
	containers.RequireDocker(t)
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			var inFlight, peak, arrived atomic.Int32
			full := make(chan struct{})
			var fullOnce sync.Once
			probe := wait.ForFunc(func(ctx context.Context, _ wait.Target) error {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				// Hold until limit starts are under way at once, so that a group that
				// allowed more would show it.
				if arrived.Add(1) >= int32(limit) {
					fullOnce.Do(func() { close(full) })
				}
				select {
				case <-full:
				case <-ctx.Done():
					return ctx.Err()
				}
				time.Sleep(50 * time.Millisecond) // overlap with the next starts, if allowed
				return nil
			})
			var specs []containers.Spec
			for range 2*limit + 1 {
				specs = append(specs, containers.Image(busybox).Cmd("sh", "-c", nvIdle).WaitFor(probe))
			}
			cs := containers.Group{MaxParallel: limit}.StartAll(t, specs...)
			require.Len(t, cs, len(specs))
			assert.Equal(t, int32(limit), peak.Load(), "most starts under way at once")
		})
	}
	t.Run("negative", func(t *testing.T) {
		_, err := containers.Group{MaxParallel: -1}.RunAll(t.Context(), containers.Image(busybox))
		require.ErrorContains(t, err, "MaxParallel -1: negative")
	})
}
