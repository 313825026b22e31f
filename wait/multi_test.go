package wait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// blocker is a strategy that waits until released or until its context ends, and
// records how its context ended.
type blocker struct {
	name     string
	release  chan error
	started  chan struct{}
	ended    chan error // context.Cause when ctx ended, nil when released
	exitWait bool
}

func newBlocker(name string) *blocker {
	return &blocker{name: name, release: make(chan error, 1), started: make(chan struct{}), ended: make(chan error, 1)}
}

func (b *blocker) String() string { return b.name }

func (b *blocker) WaitUntilReady(ctx context.Context, t wait.Target) error {
	close(b.started)
	select {
	case err := <-b.release:
		b.ended <- nil
		return err
	case <-ctx.Done():
		b.ended <- context.Cause(ctx)
		return errors.New(b.name + ": stopped")
	}
}

func TestAllWaitsForEvery(t *testing.T) {
	a, b := newBlocker("a"), newBlocker("b")
	done := async(t.Context(), newFake(), wait.All(a, nil, b), long)
	<-a.started
	<-b.started
	a.release <- nil
	requirePending(t, done, "b is not ready")
	b.release <- nil
	require.NoError(t, <-done)
	require.NoError(t, wait.All().WaitUntilReady(t.Context(), newFake()))
}

func TestAllFirstFailureCancelsTheRest(t *testing.T) {
	a, b := newBlocker("a"), newBlocker("b")
	done := async(t.Context(), newFake(), wait.All(a, b), long)
	<-b.started
	a.release <- errors.New("a: no health check")
	err := <-done
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Equal(t, "container not ready: a: no health check", err.Error())
	assert.Error(t, <-b.ended, "b must have been cancelled")
}

func TestAllTimeoutJoinsThoseStillWaiting(t *testing.T) {
	f := newFake()
	f.log.write("one\n")
	f.ports["80/tcp"] = refusedPort(t)
	s := wait.All(wait.ForLog("one"), wait.ForLog("two"), wait.ForPort("80/tcp")).Timeout(100 * time.Millisecond)
	assert.Equal(t, `all of (log "one", log "two", port 80/tcp)`, s.String())
	err := wait.Ready(t.Context(), f, s, long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	msg := err.Error()
	assert.NotContains(t, msg, `log "one"`, "the satisfied strategy is not part of the error")
	assert.Contains(t, msg, `log "two": timed out after`)
	assert.Contains(t, msg, "log matched 0 of 1; port 80/tcp (127.0.0.1:")
	assert.Contains(t, msg, "connection refused")
}

func TestAllContainerDies(t *testing.T) {
	f := newFake()
	a := newBlocker("a")
	done := async(t.Context(), f, wait.All(a, wait.ForLog("ready")), long)
	<-a.started
	f.exit(1, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), `all of (a, log "ready"): container fake-1 exited with code 1 while waiting`)
}

func TestAnyFirstSuccessWinsAndCancelsTheRest(t *testing.T) {
	a, b, c := newBlocker("a"), newBlocker("b"), newBlocker("c")
	done := async(t.Context(), newFake(), wait.Any(a, b, c), long)
	<-a.started
	<-c.started
	a.release <- errors.New("a: broken")
	requirePending(t, done, "b and c still wait")
	b.release <- nil
	require.NoError(t, <-done)
	assert.Error(t, <-c.ended, "c must have been cancelled")
}

func TestAnyFailsOnlyWhenEveryOneFailed(t *testing.T) {
	a, b := newBlocker("a"), newBlocker("b")
	done := async(t.Context(), newFake(), wait.Any(a, b), long)
	a.release <- errors.New("a: broken")
	<-a.ended
	requirePending(t, done, "b still waits")
	b.release <- errors.New("b: broken too")
	err := <-done
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Equal(t, "container not ready: a: broken; b: broken too", err.Error())

	require.Error(t, wait.Any().WaitUntilReady(t.Context(), newFake()))
}

func TestAnyTimeout(t *testing.T) {
	f := newFake()
	s := wait.Any(wait.ForLog("x"), wait.ForExit(0)).Timeout(50 * time.Millisecond)
	err := wait.Ready(t.Context(), f, s, long)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), `log "x": timed out after`)
	assert.Contains(t, err.Error(), "; exit with code 0: timed out after")
}

func TestExpectsExitPropagates(t *testing.T) {
	assert.False(t, wait.ExpectsExit(wait.ForPort("80")))
	assert.True(t, wait.ExpectsExit(wait.ForExit(0)))
	assert.True(t, wait.ExpectsExit(wait.ForExit(0).Timeout(time.Second)))
	assert.True(t, wait.ExpectsExit(wait.All(wait.ForLog("done"), wait.ForExit(0))))
	assert.True(t, wait.ExpectsExit(wait.Any(wait.ForPort("80"), wait.All(wait.ForExit(0)))))
	assert.False(t, wait.ExpectsExit(wait.Any(wait.ForPort("80"), wait.ForLog("x"))))
}

func TestAllWithExitReadsTheWholeLog(t *testing.T) {
	// An init container: its last words and its exit code both count, and its exit
	// must not cut the log strategy short.
	f := newFake()
	done := async(t.Context(), f, wait.All(wait.ForExit(0), wait.ForLog("seeded 3 rows")), long)
	f.log.write("seeding\n")
	f.exit(0, false)
	f.log.write("seeded 3 ", "rows\n")
	f.log.end()
	require.NoError(t, <-done)
}

func TestAnyWithExitFailsFastOnTheWrongExit(t *testing.T) {
	// Ready does not watch for the exit (ForExit expects one); Any must stop the
	// strategies that a dead container can never satisfy.
	f := newFake()
	f.ports["80/tcp"] = newTestServer(t, false).port()
	done := async(t.Context(), f, wait.Any(wait.ForPort("80/tcp"), wait.ForExit(0)), long)
	f.exit(2, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "port 80/tcp: container fake-1 exited with code 2 while waiting")
	assert.Contains(t, err.Error(), "exit with code 0: container fake-1 exited with code 2, want 0")
}
