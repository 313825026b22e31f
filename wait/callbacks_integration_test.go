package wait_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

func TestIntegrationForLogOnMatch(t *testing.T) {
	t.Parallel()
	t.Run("reads a generated password", func(t *testing.T) {
		t.Parallel()
		var password string
		busybox(t, `sleep 0.2; echo "generated password: $(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"; exec sleep 3600`).
			WaitFor(wait.ForLogRegexp(`^generated password: ([0-9a-f]{8})$`).OnMatch(func(m []string) error {
				password = m[1]
				return nil
			})).Start(t)
		assert.Len(t, password, 8)
	})
	t.Run("a permanent error fails the start", func(t *testing.T) {
		t.Parallel()
		bad := errors.New("started without TLS")
		_, err := busybox(t, `echo "mode: plain"; exec sleep 3600`).
			WaitFor(wait.ForLogRegexp(`^mode: (\w+)$`).OnMatch(func(m []string) error {
				if m[1] != "tls" {
					return wait.Permanent(bad)
				}
				return nil
			})).StartTimeout(forever).Run(t.Context())
		require.ErrorIs(t, err, bad)
	})
}

func TestIntegrationForSQL(t *testing.T) {
	t.Parallel()
	// The fake driver wants the server to greet it with "ready".
	busybox(t, "sleep 0.3; exec nc -ll -p 5432 -e echo ready").Expose("5432/tcp").
		WaitFor(wait.ForSQL("containertest-fake", "5432/tcp", fakeDSN)).Start(t)

	_, err := busybox(t, "exec nc -ll -p 5432 -e echo ready").Expose("5432/tcp").
		WaitFor(wait.ForSQL("containertest-fake", "5432/tcp", fakeDSN).Query("SELECT broken")).
		StartTimeout(2 * time.Second).Run(t.Context())
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "syntax error")
}

func TestIntegrationForPortUnpublished(t *testing.T) {
	t.Parallel()
	if nothingListens(t); !tableKnown {
		// Tests in a container, rootless or remote engines: the socket table is out
		// of reach, and the documented answer is ErrNoSocketTable, at once.
		_, err := busybox(t, "sleep 0.3; exec nc -ll -p 6379 -e cat").
			WaitFor(wait.ForPort("6379/tcp").Unpublished()).StartTimeout(forever).Run(t.Context())
		require.ErrorIs(t, err, wait.ErrNoSocketTable)
		return
	}
	t.Run("listening", func(t *testing.T) {
		t.Parallel()
		// Nothing is exposed: ForPort without Unpublished could not even look the port up.
		busybox(t, "sleep 0.3; exec nc -ll -p 6379 -e cat").
			WaitFor(wait.ForPort("6379/tcp").Unpublished()).Start(t)
	})
	t.Run("loopback only", func(t *testing.T) {
		t.Parallel()
		_, err := busybox(t, "mkdir -p /www; exec httpd -f -p 127.0.0.1:6379 -h /www").
			WaitFor(wait.ForPort("6379/tcp").Unpublished()).StartTimeout(2 * time.Second).Run(t.Context())
		require.ErrorIs(t, err, wait.ErrUnreachableListener)
		assert.Contains(t, err.Error(), "listens on 127.0.0.1 only inside the container")
	})
}
