package wait_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// long is a deadline no test reaches: a wait that returns before it returned for a
// reason other than the deadline.
const long = time.Hour

// async runs s against t through wait.Ready in the background.
func async(ctx context.Context, t wait.Target, s wait.Strategy, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- wait.Ready(ctx, t, s, timeout) }()
	return done
}

// requirePending fails the test if a result has arrived on done already.
func requirePending(t *testing.T, done <-chan error, why string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s, but the wait returned: %v", why, err)
	default:
	}
}

// testServer is a TCP listener on 127.0.0.1 that behaves either like the engine's
// userland proxy with nothing behind it (accept, then close at once) or like a real
// server (accept and keep the connection open, silent).
type testServer struct {
	ln   net.Listener
	real atomic.Bool
	// closeAfter delays the close of a connection when not real, as a busy proxy does.
	closeAfter time.Duration
	accepted   atomic.Int64
	// acceptedCh receives the running count after each accept, without blocking.
	acceptedCh chan int64
}

func newTestServer(t *testing.T, real bool) *testServer {
	t.Helper()
	return newSlowTestServer(t, real, 0)
}

// newSlowTestServer is newTestServer whose proxy mode closes connections only after
// closeAfter.
func newSlowTestServer(t *testing.T, real bool, closeAfter time.Duration) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{ln: ln, acceptedCh: make(chan int64, 1024), closeAfter: closeAfter}
	s.real.Store(real)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case s.acceptedCh <- s.accepted.Add(1):
			default:
			}
			if !s.real.Load() {
				if s.closeAfter > 0 {
					time.AfterFunc(s.closeAfter, func() { c.Close() })
				} else {
					c.Close()
				}
				continue
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// awaitAccepts blocks until the server has accepted at least n connections.
func (s *testServer) awaitAccepts(t *testing.T, n int64) {
	t.Helper()
	for s.accepted.Load() < n {
		select {
		case <-s.acceptedCh:
		case <-t.Context().Done():
			t.Fatal("test ended before the server saw enough connections")
		}
	}
}

// refusedPort returns a local port on which nothing listens.
func refusedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return p
}
