package wait_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

func TestDefaultTimeout(t *testing.T) {
	t.Setenv("CONTAINERTEST_START_TIMEOUT", "")
	assert.Equal(t, 60*time.Second, waitwire.DefaultTimeout())
	t.Setenv("CONTAINERTEST_START_TIMEOUT", "90s")
	assert.Equal(t, 90*time.Second, waitwire.DefaultTimeout())
	t.Setenv("CONTAINERTEST_START_TIMEOUT", "soon")
	assert.Equal(t, 60*time.Second, waitwire.DefaultTimeout())
}

// ticks is a strategy that is ready on its nth call.
func ticks(n int32) *wait.FuncStrategy {
	var calls atomic.Int32
	return wait.ForFunc(func(context.Context, wait.Target) error {
		if calls.Add(1) < n {
			return errors.New("not yet")
		}
		return nil
	})
}

func TestReadyContextDeadlineWinsOverTheDefault(t *testing.T) {
	t.Setenv("CONTAINERTEST_START_TIMEOUT", "1ns")
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	require.NoError(t, wait.Ready(ctx, newFake(), ticks(5), 0))

	// A timeout the spec sets still applies, the earlier of the two winning.
	err := wait.Ready(ctx, newFake(), ticks(5), time.Nanosecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestReadyTimeoutFromEnvironment(t *testing.T) {
	t.Setenv("CONTAINERTEST_START_TIMEOUT", "1ns")
	err := wait.Ready(t.Context(), newFake(), ticks(5), 0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestReadyNilStrategy(t *testing.T) {
	require.NoError(t, wait.Ready(t.Context(), newFake(), nil, 0))
}

// opaque is a strategy without a String method.
type opaque struct{}

func (opaque) WaitUntilReady(context.Context, wait.Target) error { return errors.New("broken") }

func TestReadyWrapsEveryFailure(t *testing.T) {
	f := newFake()
	f.tail = "a\nb\n"
	err := wait.Ready(t.Context(), f, opaque{}, long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Equal(t, "container not ready: wait_test.opaque: broken\nlast log lines:\n\ta\n\tb", err.Error())
}

func TestReadyAlreadyExited(t *testing.T) {
	f := newFake()
	f.exit(1, false)
	err := wait.Ready(t.Context(), f, wait.ForLog("never"), long)
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), `log "never": container fake-1 exited with code 1 while waiting`)
}
