package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

func TestForLogMatchesAcrossChunks(t *testing.T) {
	f := newFake()
	f.log.write("starting\nserver rea", "dy", " to accept\n")
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForLog("server ready to accept"), long))
	assert.EqualValues(t, 1, f.follows.Load())
}

func TestForLogTimesCountsEachOccurrence(t *testing.T) {
	f := newFake()
	f.log.write("ready to accept connections\n")
	done := async(t.Context(), f, wait.ForLog("ready to accept connections").Times(2), long)
	// The second occurrence arrives later, in three pieces.
	f.log.write("restarting\nread", "y to accept conn", "ections\n")
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, f.follows.Load(), "the log must be followed once, not re-read")
}

func TestForLogWaitsForNewOutput(t *testing.T) {
	f := newFake()
	f.log.write("booting\n")
	done := async(t.Context(), f, wait.ForLog("listening"), long)
	for f.log.read.Load() < int64(len("booting\n")) {
		time.Sleep(time.Millisecond)
	}
	requirePending(t, done, "the log does not contain the substring yet")
	f.log.write("lis", "tening on :80\n")
	require.NoError(t, <-done)
}

func TestForLogTimeoutSaysHowManyMatched(t *testing.T) {
	f := newFake()
	f.log.write("ready\n", "working\n")
	f.tail = "ready\nworking"
	err := wait.Ready(t.Context(), f, wait.ForLog("ready").Times(2).Timeout(100*time.Millisecond), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), `container not ready: log "ready" (2 times): timed out after`)
	assert.Contains(t, err.Error(), "log matched 1 of 2")
	assert.Contains(t, err.Error(), "last log lines:\n\tready\n\tworking")
}

func TestForLogContainerDies(t *testing.T) {
	f := newFake()
	f.log.write("fatal: config missing\n")
	done := async(t.Context(), f, wait.ForLog("ready"), long)
	for f.log.read.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.exit(1, false) // the stream stays open: only the status says it died
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), "exited with code 1 while waiting")
}

func TestForLogStreamEndsThenExit(t *testing.T) {
	// Called directly, without Ready watching the status: the end of the stream is
	// followed by the exit, and the strategy says so itself.
	f := newFake()
	f.log.write("ready 1 of 2\n")
	done := make(chan error, 1)
	go func() { done <- wait.ForLog("ready").Times(2).WaitUntilReady(t.Context(), f) }()
	f.log.end()
	f.exit(3, false)
	err := <-done
	require.ErrorIs(t, err, wait.ErrExited)
	assert.Contains(t, err.Error(), `log "ready" (2 times): container fake-1 exited with code 3 while waiting (log matched 1 of 2)`)
}

func TestForLogMatchesOutputOfAnExitedContainer(t *testing.T) {
	// Everything the container wrote before it exited is still in the stream.
	f := newFake()
	f.log.write("migrated 12 tables\n")
	f.log.end()
	f.exit(0, false)
	require.NoError(t, wait.ForLog("migrated").WaitUntilReady(t.Context(), f))
}

func TestForLogRegexpMatchesPerLine(t *testing.T) {
	f := newFake()
	f.log.write("listening on\n", ":8080\n", "listen", "ing on :80", "81\r\n")
	err := wait.ForLogRegexp(`^listening on :\d+$`).Timeout(time.Hour).WaitUntilReady(t.Context(), f)
	require.NoError(t, err)

	// The same pattern must not match across the line break of the first two chunks.
	g := newFake()
	g.log.write("listening on\n", ":8080\n")
	err = wait.ForLogRegexp(`listening on\s*:\d+`).Timeout(100*time.Millisecond).WaitUntilReady(t.Context(), g)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "log /listening on\\s*:\\d+/: timed out after")
	assert.Contains(t, err.Error(), "log matched 0 of 1")
}

func TestForLogRegexpTimesCountsLines(t *testing.T) {
	f := newFake()
	f.log.write("worker 1 up\nworker 2 up\n", "worker 3 ", "up")
	f.log.end() // the last line has no line ending; it still counts
	require.NoError(t, wait.ForLogRegexp(`worker \d up`).Times(3).WaitUntilReady(t.Context(), f))
}

func TestForLogPanicsOnMisuse(t *testing.T) {
	assert.PanicsWithValue(t, "wait: ForLog: empty substring", func() { wait.ForLog("") })
	assert.Panics(t, func() { wait.ForLogRegexp("(") })
	assert.Panics(t, func() { wait.ForLog("x").Times(0) })
}

func TestForLogString(t *testing.T) {
	assert.Equal(t, `log "ready"`, wait.ForLog("ready").String())
	assert.Equal(t, `log "ready" (2 times)`, wait.ForLog("ready").Times(2).String())
	assert.Equal(t, `log /^up$/ (3 times)`, wait.ForLogRegexp("^up$").Times(3).String())
}
