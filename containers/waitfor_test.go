package containers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// TestContainerWaitFor waits again on a started container: after what it needs came
// back, for a strategy it was not started with, and fails at once when it exits.
func TestContainerWaitFor(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	ctx := t.Context()
	// The server starts only when /tmp/go exists: the test decides when it is ready.
	c := containers.Image(busybox).
		Cmd("sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo serving; exec httpd -f -p 8080 -h /tmp").
		Expose("8080/tcp").WaitFor().Start(t)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.WaitFor(short, wait.ForPort("8080/tcp"))
	cancel()
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "wait for container "+c.Name())

	_, err = c.Exec(ctx, "touch", "/tmp/go")
	require.NoError(t, err)
	require.NoError(t, c.WaitFor(ctx, wait.All(wait.ForLog("serving"), wait.ForHTTP("/").Port("8080/tcp").Status(404))))

	err = c.WaitFor(ctx, nil)
	assert.ErrorContains(t, err, "nil strategy")

	// A container that exits ends the wait at once, long before the deadline.
	dying := containers.Image(busybox).Cmd("sh", "-c", "sleep 0.5; exit 4").WaitFor().Start(t)
	start := time.Now()
	err = dying.WaitFor(ctx, wait.ForLog("never printed").Timeout(time.Minute))
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exited with code 4")
	assert.Less(t, time.Since(start), 30*time.Second, "the exit ended the wait")
}

// TestStrategyCalledDirectly: a strategy called with the container itself, not through
// Start or WaitFor, still reads the container's socket table, so a loopback-only
// listener is named as such instead of being taken for ready or for silence.
func TestStrategyCalledDirectly(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	c := containers.Image(busybox).Cmd("httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/").
		Expose("8080/tcp").WaitFor().Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	err := wait.ForPort("8080/tcp").WaitUntilReady(ctx, c)
	if errors.Is(err, wait.ErrNoSocketTable) {
		t.Skip("the socket table is out of reach on this engine")
	}
	require.ErrorIs(t, err, wait.ErrUnreachableListener)
	assert.Contains(t, err.Error(), "127.0.0.1 only")
}
