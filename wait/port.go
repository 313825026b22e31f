package wait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// PortStrategy waits until a published port accepts connections. See ForPort.
type PortStrategy struct {
	port    string
	timeout time.Duration
}

// ForPort waits until the container port (e.g. "5432/tcp"; "5432" means tcp) accepts a
// TCP connection through its published host port. The first dial comes at once, later
// ones after a few milliseconds, growing. A connection that is accepted and closed at
// once (the engine's userland proxy with nothing listening behind it) does not count.
// It needs neither a shell nor exec, so it works on FROM scratch images.
func ForPort(port string) *PortStrategy { return &PortStrategy{port: port} }

// Timeout returns a copy of s with a deadline of its own.
func (s *PortStrategy) Timeout(d time.Duration) *PortStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "port 5432/tcp".
func (s *PortStrategy) String() string { return "port " + s.port }

// WaitUntilReady implements Strategy.
func (s *PortStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if strings.HasSuffix(s.port, "/udp") || strings.HasSuffix(s.port, "/sctp") {
		return fmt.Errorf("%s: probe port: only tcp ports accept connections; wait for a log line or a command instead", s)
	}
	hp, err := t.LookupPort(s.port)
	if err != nil {
		return fmt.Errorf("%s: look up port: %w", s, err)
	}
	addr := net.JoinHostPort(t.Host(), strconv.Itoa(hp))
	b := newBackoff(probeCap)
	var last string
	for {
		err := probeTCP(ctx, addr)
		if err == nil {
			return nil
		}
		// A dial cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last = describeErr(err)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, describeAt{s, addr}, start, last)
		}
	}
}

// describeAt names a strategy together with the address it probes.
type describeAt struct {
	s    fmt.Stringer
	addr string
}

func (d describeAt) String() string { return d.s.String() + " (" + d.addr + ")" }

// proxyWindow is how long a fresh connection must stay open, silent, to count as
// ready. The engine's userland proxy accepts every connection to a published port,
// dials the container, and closes the client's connection when nobody listens there;
// that takes well under a millisecond on an idle machine, so a few milliseconds tell
// it apart from a server that accepted and waits for the client to speak.
const proxyWindow = 5 * time.Millisecond

// errClosedAtOnce marks a connection that was accepted and closed before proxyWindow.
var errClosedAtOnce = errors.New(closedAtOnce)

// probeTCP connects to addr and reports nil when something really listens there.
func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// A real server keeps the connection open (or sends a banner); the proxy closes it.
	if err := c.SetReadDeadline(time.Now().Add(proxyWindow)); err != nil {
		return err
	}
	var buf [1]byte
	_, err = c.Read(buf[:])
	var ne net.Error
	switch {
	case err == nil:
		return nil // sent a banner
	case errors.As(err, &ne) && ne.Timeout():
		return nil // open and silent
	default:
		return errClosedAtOnce
	}
}
