package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

func TestForPortUnpublishedJudgesTheSocketTable(t *testing.T) {
	otherNet := waitwire.Listeners{Known: true, Elsewhere: []string{"127.0.0.1", "172.30.0.5"}}
	for name, ls := range map[string]waitwire.Listeners{
		"wildcard":                 listening,
		"the address on a network": otherNet,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake() // no published port at all
			d := listenTarget{f, map[string]waitwire.Listeners{"6379/tcp": notListening}}
			done := async(t.Context(), d, wait.ForPort("6379").Unpublished(), long)
			time.Sleep(30 * time.Millisecond)
			requirePending(t, done, "nothing listens yet")
			d.set("6379/tcp", ls)
			require.NoError(t, <-done)
		})
	}
}

func TestForPortUnpublishedLoopbackDoesNotCount(t *testing.T) {
	f := newFake()
	d := listenTarget{f, map[string]waitwire.Listeners{"6379/tcp": {Known: true, Elsewhere: []string{"127.0.0.1", "::1"}}}}
	err := wait.Ready(t.Context(), d, wait.ForPort("6379/tcp").Unpublished(), 200*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, wait.ErrUnreachableListener)
	assert.Contains(t, err.Error(), "unpublished port 6379/tcp")
	assert.Contains(t, err.Error(), "listens on 127.0.0.1 and ::1 only inside the container")

	defer wait.SetUnreachableGrace(50 * time.Millisecond)()
	err = wait.Ready(t.Context(), d, wait.ForPort("6379/tcp").Unpublished(), long)
	require.ErrorIs(t, err, wait.ErrUnreachableListener)
	assert.Contains(t, err.Error(), "gave up after")

	err = wait.Ready(t.Context(), listenTarget{f, map[string]waitwire.Listeners{"6379/tcp": notListening}},
		wait.ForPort("6379").Unpublished(), 100*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "nothing listens on the port in the container")
}

func TestForPortUnpublishedNeedsTheSocketTable(t *testing.T) {
	f := newFake()
	err := wait.Ready(t.Context(), f, wait.ForPort("6379").Unpublished(), long)
	require.ErrorIs(t, err, wait.ErrNoSocketTable)
	err = wait.Ready(t.Context(), listenTarget{f, map[string]waitwire.Listeners{}}, wait.ForPort("6379").Unpublished(), long)
	require.ErrorIs(t, err, wait.ErrNoSocketTable)
	err = wait.Ready(t.Context(), listenTarget{f, map[string]waitwire.Listeners{}}, wait.ForPort("redis").Unpublished(), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `bad port "redis"`)
}
