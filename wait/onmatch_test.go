package wait_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

func TestForLogRegexpOnMatchReadsSubmatches(t *testing.T) {
	f := newFake()
	f.log.write("booting\ngenerated pass", "word: s3cr3t (user admin)\nlistening on port 4", "1234\n")
	var password, user string
	var port int
	s := wait.All(
		wait.ForLogRegexp(`generated password: (\S+) \(user (\w+)\)`).OnMatch(func(m []string) error {
			password, user = m[1], m[2]
			return nil
		}),
		wait.ForLogRegexp(`listening on port (\d+)`).OnMatch(func(m []string) (err error) {
			port, err = strconv.Atoi(m[1])
			return err
		}),
	)
	require.NoError(t, wait.Ready(t.Context(), f, s, long))
	assert.Equal(t, "s3cr3t", password)
	assert.Equal(t, "admin", user)
	assert.Equal(t, 41234, port)
}

func TestForLogRegexpOnMatchRejectsAndCounts(t *testing.T) {
	f := newFake()
	f.log.write("port=0\nport=0\n")
	var calls int
	s := wait.ForLogRegexp(`port=(\d+)`).Times(2).OnMatch(func(m []string) error {
		calls++
		if m[1] == "0" {
			return errors.New("port 0 is not bound yet")
		}
		return nil
	})
	err := wait.Ready(t.Context(), f, s, 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "log matched 0 of 2; OnMatch rejected the last match: port 0 is not bound yet")

	f2 := newFake()
	f2.log.write("port=0\nport=1\nport=0\nport=2\n")
	calls = 0
	require.NoError(t, wait.Ready(t.Context(), f2, s, long))
	assert.Equal(t, 4, calls, "each matching line is handed over, rejected ones too")
}

func TestForLogRegexpOnMatchPermanentErrorEndsTheWait(t *testing.T) {
	f := newFake()
	f.log.write("FATAL: password authentication is disabled\n")
	bad := errors.New("the image runs without a password")
	s := wait.ForLogRegexp(`^(FATAL|ready): (.*)$`).OnMatch(func(m []string) error {
		if m[1] == "FATAL" {
			return wait.Permanent(fmt.Errorf("%w: %s", bad, m[2]))
		}
		return nil
	})
	err := wait.Ready(t.Context(), f, s, long) // long: it must end at once
	require.ErrorIs(t, err, bad)
	require.ErrorIs(t, err, wait.ErrPermanent)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "password authentication is disabled")

	err = wait.Ready(t.Context(), f, wait.ForLog("x").OnMatch(func([]string) error { return nil }), long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "OnMatch needs a regular expression")
}

func TestForFuncPermanentErrorEndsTheWait(t *testing.T) {
	f := newFake()
	calls := 0
	bad := errors.New("schema version 3, want 4")
	err := wait.Ready(t.Context(), f, wait.ForFunc(func(context.Context, wait.Target) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return wait.Permanent(bad)
	}), long)
	require.ErrorIs(t, err, bad)
	assert.Equal(t, 3, calls)
	assert.Nil(t, wait.Permanent(nil))
}
