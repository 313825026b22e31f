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

// ForPort waits until a process in the container listens on the container port (e.g.
// "5432/tcp"; "5432" means tcp) and its published host port accepts connections. The
// first probe comes at once, later ones after a few milliseconds, growing. When the
// target can read the container's socket table (ListenTarget: a local engine), that
// says exactly whether the port listens, and the published port is dialled once it
// does; otherwise a connection to the published port counts only if the engine's
// userland proxy, which accepts on behalf of the container, keeps it open. Connections
// go only to the published address (Target.Host), never to the container's own. It
// needs neither a shell nor exec, so it works on FROM scratch images.
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
	p := portProbe{addr: net.JoinHostPort(t.Host(), strconv.Itoa(hp))}
	if l, ok := t.(ListenTarget); ok {
		p.listen, p.port = l, s.port
	}
	b := newBackoff(probePace)
	var last string
	for {
		err := p.probe(ctx)
		if err == nil {
			return nil
		}
		// A dial cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last = describeErr(err)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, describeAt{s, p.addr}, start, last)
		}
	}
}

// describeAt names a strategy together with the address it probes.
type describeAt struct {
	s    fmt.Stringer
	addr string
}

func (d describeAt) String() string { return d.s.String() + " (" + d.addr + ")" }

// errClosedAtOnce marks a connection that was accepted and closed without a word.
var errClosedAtOnce = errors.New(closedAtOnce)

// Telling the engine's userland proxy from a server. The proxy accepts every
// connection to a published port at once, then dials the container and closes the
// client's connection when nobody listens there. Through the proxy alone, "listening"
// can only be told by a connection that stays open, silent, for longer than the proxy
// takes to close one: usually well under a millisecond, but tens of milliseconds when
// the machine is busy or the proxy has just started. So a wait that can reach the
// container's socket table (see ListenTarget) trusts it, and only falls back to timing
// the proxy when it cannot.
const (
	// minWindow is how long a connection through the proxy must stay open to count,
	// at least; longer when the proxy was seen to take longer (maxWindow at most).
	minWindow = 100 * time.Millisecond
	maxWindow = time.Second
)

// portProbe probes one published port, with the container's socket table when it can.
type portProbe struct {
	addr    string       // the published host address
	listen  ListenTarget // nil when the socket table cannot be read
	port    string
	slowest time.Duration // the longest the proxy took to close a connection
}

// errNotListening says the container's socket table has no listener on the port.
var errNotListening = errors.New("nothing listens on the port in the container")

// probe reports nil when a process in the container listens on the port and the
// published address accepts connections.
func (p *portProbe) probe(ctx context.Context) error {
	if p.listen != nil {
		listening, known := p.listen.Listening(p.port)
		switch {
		case known && !listening:
			return errNotListening
		case known:
			// The process listens. The published address must accept too (the
			// engine's forwarding is in place); what happens behind it is known.
			return dial(ctx, p.addr, time.Second)
		}
		// The socket table cannot be read (a rootless engine, a VM, a remote host).
		p.listen = nil
	}
	return p.probeProxied(ctx)
}

// dial opens and closes one connection to addr.
func dial(ctx context.Context, addr string, timeout time.Duration) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeProxied connects to the published address and reports nil when the connection
// stays open (or the server speaks first) for longer than the proxy takes to close a
// connection it cannot forward.
func (p *portProbe) probeProxied(ctx context.Context) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", p.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	opened := time.Now()
	window := min(max(minWindow, 4*p.slowest), maxWindow)
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	if err := c.SetReadDeadline(opened.Add(window)); err != nil {
		return err
	}
	var buf [1]byte
	_, err = c.Read(buf[:])
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	switch {
	case err == nil:
		return nil // the server spoke first (a banner)
	case errors.As(err, &ne) && ne.Timeout():
		return nil // open and silent
	}
	p.slowest = max(p.slowest, time.Since(opened))
	return errClosedAtOnce
}
