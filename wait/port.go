package wait

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// PortStrategy waits until a published port accepts connections. See ForPort.
type PortStrategy struct {
	port    string
	timeout time.Duration
}

// ForPort waits until the container port (e.g. "5432/tcp"; "5432" means tcp) accepts a
// TCP connection through its published host port. A connection that is accepted and
// closed at once (the engine's userland proxy with nothing listening behind it) does
// not count. It needs neither a shell nor exec, so it works on FROM scratch images.
func ForPort(port string) *PortStrategy { return &PortStrategy{port: port} }

// Timeout sets a deadline for this strategy alone.
func (s *PortStrategy) Timeout(d time.Duration) *PortStrategy {
	c := *s
	c.timeout = d
	return &c
}

func (s *PortStrategy) String() string { return "port " + s.port }

// WaitUntilReady implements Strategy.
func (s *PortStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	hp, err := t.LookupPort(s.port)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(t.Host(), strconv.Itoa(hp))
	backoff := 2 * time.Millisecond
	var last error
	for {
		last = probeTCP(ctx, addr)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s at %s: last: %v: %w", s, addr, last, ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < 100*time.Millisecond {
			backoff = backoff * 3 / 2
		}
	}
}

// probeTCP connects to addr and treats a connection that the peer closes at once as
// not ready.
func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// The userland proxy accepts, then closes when it cannot reach the container.
	// A real server keeps the connection open (or sends a banner).
	c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	var b [1]byte
	_, err = c.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil // open and silent: ready
	}
	if err == nil {
		return nil // sent a banner: ready
	}
	return fmt.Errorf("connection closed at once (nothing listening behind the proxy): %w", err)
}
