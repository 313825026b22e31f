package wait_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

func TestForPortReadyWhenListening(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, true)
	f.ports["8080/tcp"] = srv.port()
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForPort("8080/tcp"), long))
}

func TestForPortReadyOnBanner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A server that greets and hangs up (an SMTP-like banner) is listening.
			c.Write([]byte("220 hello\r\n"))
			c.Close()
		}
	}()
	f := newFake()
	f.ports["25/tcp"] = ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForPort("25/tcp"), long))
}

func TestForPortProxyAcceptIsNotReady(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	done := async(t.Context(), f, wait.ForPort("8080/tcp"), long)

	// Probes are sequential: by the time the fourth connection is accepted, the third
	// has been judged. Three closed-at-once connections must not have counted.
	srv.awaitAccepts(t, 4)
	requirePending(t, done, "every connection was closed at once")

	srv.real.Store(true)
	require.NoError(t, <-done)
}

func TestForPortTimeoutSaysConnectionRefused(t *testing.T) {
	f := newFake()
	f.ports["5432/tcp"] = refusedPort(t)
	f.tail = "booting\nstill booting"
	err := wait.Ready(t.Context(), f, wait.ForPort("5432/tcp").Timeout(100*time.Millisecond), long)
	require.Error(t, err)
	assert.ErrorIs(t, err, wait.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, wait.ErrExited)
	msg := err.Error()
	assert.Contains(t, msg, "container not ready: port 5432/tcp (127.0.0.1:")
	assert.Contains(t, msg, "timed out after")
	assert.Contains(t, msg, "connection refused")
	assert.Contains(t, msg, "last log lines:\n\tbooting\n\tstill booting")
}

func TestForPortTimeoutSaysClosedAtOnce(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- wait.ForPort("8080/tcp").WaitUntilReady(ctx, f) }()
	srv.awaitAccepts(t, 3) // the first two probes have been judged
	cancel()
	err := <-done
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "gave up after")
	assert.Contains(t, err.Error(), "(context canceled): connection closed at once")
}

func TestForPortContainerDiesWhileWaiting(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	f.tail = "panic: cannot bind"
	done := async(t.Context(), f, wait.ForPort("8080/tcp"), long)
	srv.awaitAccepts(t, 2)
	f.exit(2, true)

	err := <-done // the deadline is an hour away: returning at all is the point
	require.ErrorIs(t, err, wait.ErrExited)
	assert.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	msg := err.Error()
	assert.Contains(t, msg, "port 8080/tcp: container fake-1 exited with code 2 (out of memory) while waiting (last saw: connection closed at once")
	assert.Contains(t, msg, "panic: cannot bind")
}

func TestForPortUnpublishedFailsAtOnce(t *testing.T) {
	err := wait.Ready(t.Context(), newFake(), wait.ForPort("9999/tcp"), long)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "port 9999/tcp: look up port: port 9999/tcp is not published")
}

func TestForPortUDPFailsAtOnce(t *testing.T) {
	f := newFake()
	f.ports["53/udp"] = 53
	err := wait.ForPort("53/udp").WaitUntilReady(t.Context(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "only tcp ports")
}

func TestForPortCallerCancels(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, false)
	f.ports["8080/tcp"] = srv.port()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- wait.ForPort("8080/tcp").WaitUntilReady(ctx, f) }()
	srv.awaitAccepts(t, 1)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, wait.ErrNotReady)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}

func TestTimeoutReturnsACopy(t *testing.T) {
	calls := make(chan struct{}, 100)
	base := wait.ForFunc(func(ctx context.Context, _ wait.Target) error {
		calls <- struct{}{}
		return errors.New("not yet")
	})
	short := base.Timeout(time.Millisecond)
	require.ErrorIs(t, short.WaitUntilReady(t.Context(), newFake()), context.DeadlineExceeded)

	// base must not have picked up the millisecond: it keeps calling until cancelled.
	for len(calls) > 0 {
		<-calls
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- base.WaitUntilReady(ctx, newFake()) }()
	for range 5 {
		<-calls
	}
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "not yet")
}

func TestForPortSlowProxyIsNotReady(t *testing.T) {
	// A busy machine: the proxy takes 30 ms to give up on the container.
	f := newFake()
	srv := newSlowTestServer(t, false, 30*time.Millisecond)
	f.ports["8080/tcp"] = srv.port()
	done := async(t.Context(), f, wait.ForPort("8080/tcp"), long)
	srv.awaitAccepts(t, 4)
	requirePending(t, done, "every connection was closed after 30 ms")
	srv.real.Store(true)
	require.NoError(t, <-done)
}

func TestForPortTrustsTheSocketTable(t *testing.T) {
	// The container listens: ready as soon as the published port accepts, however the
	// proxy behaves.
	f := newFake()
	srv := newTestServer(t, false) // a proxy that closes every connection at once
	f.ports["8080/tcp"] = srv.port()
	d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": listening}}
	require.NoError(t, wait.Ready(t.Context(), d, wait.ForPort("8080/tcp"), long))

	// Nothing listens in the container: not ready, however long the proxy keeps
	// connections open, and the published port is not even dialled.
	g := newFake()
	open := newTestServer(t, true)
	g.ports["8080/tcp"] = open.port()
	d = listenTarget{g, map[string]waitwire.Listeners{"8080/tcp": notListening}}
	err := wait.Ready(t.Context(), d, wait.ForPort("8080/tcp").Timeout(100*time.Millisecond), long)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "nothing listens")

	// The container listens but the published port does not accept yet.
	h := newFake()
	h.ports["8080/tcp"] = refusedPort(t)
	d = listenTarget{h, map[string]waitwire.Listeners{"8080/tcp": listening}}
	err = wait.Ready(t.Context(), d, wait.ForPort("8080/tcp").Timeout(100*time.Millisecond), long)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestForPortUnknownSocketTableFallsBack(t *testing.T) {
	f := newFake()
	srv := newTestServer(t, true)
	f.ports["8080/tcp"] = srv.port()
	d := listenTarget{f, map[string]waitwire.Listeners{}} // cannot tell
	require.NoError(t, wait.Ready(t.Context(), d, wait.ForPort("8080/tcp"), long))
	srv.awaitAccepts(t, 1)
}
