package wait_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// smallTarget implements only wait.Target: what a user's fake has.
type smallTarget struct{ log string }

func (smallTarget) Name() string                   { return "small" }
func (smallTarget) Host() string                   { return "127.0.0.1" }
func (smallTarget) LookupPort(string) (int, error) { return 0, errors.New("nothing is published") }
func (s smallTarget) FollowLogs(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(s.log)), nil
}
func (smallTarget) Exec(_ context.Context, cmd ...string) (wait.ExecResult, error) {
	return wait.ExecResult{Stdout: strings.Join(cmd, " ")}, nil
}

// The strategies work against the five methods of Target alone; those that need the
// container's state from the engine fail at once, saying so, instead of waiting for an
// exit or a health report that cannot come.
func TestSmallTarget(t *testing.T) {
	ctx := t.Context()
	tg := smallTarget{log: "booting\nready\n"}
	require.NoError(t, wait.Ready(ctx, tg, wait.ForLog("ready"), 5*time.Second))
	require.NoError(t, wait.Ready(ctx, tg, wait.ForExec("true"), 5*time.Second))
	require.NoError(t, wait.Ready(ctx, tg, wait.ForFunc(func(context.Context, wait.Target) error { return nil }), 5*time.Second))

	for _, s := range []wait.Strategy{wait.ForExit(0), wait.ForHealthy()} {
		start := time.Now()
		err := wait.Ready(ctx, tg, s, time.Minute)
		require.ErrorIs(t, err, wait.ErrNotReady)
		assert.Contains(t, err.Error(), "container small does not report its state")
		assert.Less(t, time.Since(start), 10*time.Second, "%v failed at once", s)
	}
	// A port that is not published fails with the target's own words.
	err := wait.Ready(ctx, tg, wait.ForPort("80/tcp"), 2*time.Second)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "nothing is published")
}
