package wait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/containertest/containertest/internal/waitwire"
)

// PortStrategy waits until a published port accepts connections. See ForPort.
type PortStrategy struct {
	port        string
	timeout     time.Duration
	unpublished bool
}

// ForPort waits until a process in the container listens on the container port (e.g.
// "5432/tcp"; "5432" means tcp) and its published host port accepts connections. The
// first probe comes at once, later ones after a few milliseconds, growing. When the
// target can read the container's socket table (a framework container on a local engine), that
// says exactly whether the port listens, and the published port is dialled once it
// does; otherwise a connection to the published port counts only if the engine's
// userland proxy, which accepts on behalf of the container, keeps it open. Connections
// go only to the published address (Target.Host), never to the container's own. It
// needs neither a shell nor exec, so it works on FROM scratch images.
//
// A socket counts only where the published port reaches it: on a wildcard address
// (0.0.0.0, ::) or on the container's address to which the engine forwards the port. A
// server that listens on 127.0.0.1 inside the container (the default of "flask run" and
// of many development servers) can never be reached through the published port; the
// error then says so ("port 8080/tcp listens on 127.0.0.1 only inside the container:
// bind it to 0.0.0.0") and wraps ErrUnreachableListener, at the deadline or as soon as
// that has been all there is on the port for 10 s (so that an entrypoint may run its
// server on loopback while it initialises, then restart it on every address).
func ForPort(port string) *PortStrategy { return &PortStrategy{port: port} }

// Timeout returns a copy of s with a deadline of its own.
func (s *PortStrategy) Timeout(d time.Duration) *PortStrategy {
	c := *s
	c.timeout = d
	return &c
}

// Unpublished returns a copy of s for a port that the container listens on without
// publishing it, such as a database that only other containers of the test's network
// reach. The wait then judges from the container's socket table alone (no connection
// is made; the port need not be exposed) and is over once a socket listens on the port
// where another container can reach it: on a wildcard address (0.0.0.0, ::) or on one
// of the container's own addresses, on any of its networks. A socket on 127.0.0.1 or ::1
// only does not count, since nothing outside the container reaches it; that is reported
// as ForPort reports it (wrapping ErrUnreachableListener, after the same grace).
//
// The socket table must be readable from the test process (a local Linux engine and a
// framework container): where it is not (a remote engine, one in a VM, rootless), the wait fails
// at once wrapping ErrNoSocketTable, and a log line or a command (ForLog, ForExec) is the
// way to wait.
func (s *PortStrategy) Unpublished() *PortStrategy {
	c := *s
	c.unpublished = true
	return &c
}

// ErrNoSocketTable is wrapped when a wait needs the container's socket table
// (PortStrategy.Unpublished) and the target cannot read it.
var ErrNoSocketTable = errors.New("the container's socket table cannot be read from here")

// String describes the strategy for messages: "port 5432/tcp", "unpublished port 5432/tcp".
func (s *PortStrategy) String() string {
	if s.unpublished {
		return "unpublished port " + s.port
	}
	return "port " + s.port
}

// WaitUntilReady implements Strategy.
func (s *PortStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if strings.HasSuffix(s.port, "/udp") || strings.HasSuffix(s.port, "/sctp") {
		return fmt.Errorf("%s: probe port: only tcp ports accept connections; wait for a log line or a command instead", s)
	}
	if s.unpublished {
		return s.waitInside(ctx, t, start)
	}
	hp, err := t.LookupPort(s.port)
	if err != nil {
		return fmt.Errorf("%s: look up port: %w", s, err)
	}
	p := portProbe{addr: net.JoinHostPort(t.Host(), strconv.Itoa(hp)), port: s.port}
	if l, ok := framework(t).(waitwire.Listening); ok {
		p.listen = l
		p.watch.port = tcpPortName(s.port)
	}
	who := describeAt{s, p.addr}
	b := newBackoff(probePace)
	var last string
	var lastErr error
	for {
		err := p.probe(ctx)
		if err == nil {
			return nil
		}
		// A dial cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last, lastErr = describeErr(err), err
		}
		if p.watch.over() {
			return p.watch.giveUp(who, start, lastErr)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReadyBecause(ctx, who, start, last, lastErr)
		}
	}
}

// waitInside is the wait of Unpublished: the socket table only.
func (s *PortStrategy) waitInside(ctx context.Context, t Target, start time.Time) error {
	lt, ok := framework(t).(waitwire.Listening)
	if !ok {
		return fmt.Errorf("%s: %w (the target cannot read the container's socket table); wait for a log line or a command instead", s, ErrNoSocketTable)
	}
	port := tcpPortName(s.port)
	if _, err := strconv.ParseUint(strings.TrimSuffix(port, "/tcp"), 10, 16); err != nil || strings.Count(port, "/") != 1 {
		return fmt.Errorf("%s: bad port %q, want a number such as \"5432/tcp\"", s, s.port)
	}
	watch := reachWatch{port: port}
	b := newBackoff(probePace)
	var last string
	var lastErr error
	for {
		l := lt.Listeners(port)
		if !l.Known {
			return fmt.Errorf("%s: %w (a remote engine, one in a VM or a rootless one); wait for a log line or a command instead", s, ErrNoSocketTable)
		}
		// What other containers reach: wildcards, the container's own addresses.
		inside := listeners{Known: true, Reachable: l.Reachable}
		for _, a := range l.Elsewhere {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap().IsLoopback() {
				inside.Elsewhere = append(inside.Elsewhere, a)
			} else {
				inside.Reachable = true
			}
		}
		if inside.Reachable {
			return nil
		}
		if err := watch.check(inside); err != nil {
			last, lastErr = err.Error(), err
		} else {
			last, lastErr = errNotListening.Error(), nil
		}
		if watch.over() {
			return watch.giveUp(s, start, lastErr)
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReadyBecause(ctx, s, start, last, lastErr)
		}
	}
}

// ErrUnreachableListener is wrapped when a process in the container listens on the
// port, but only on addresses that the published port does not reach, such as
// 127.0.0.1 inside the container. Nothing outside the container can connect until the
// process listens on 0.0.0.0 (or ::) instead.
var ErrUnreachableListener = errors.New("listens only where the published port does not reach")

// elsewhereError says that a port listens only on addresses that its published port
// does not reach, in words a user can act on.
type elsewhereError struct {
	port  string   // "8080/tcp"
	addrs []string // "127.0.0.1", "::1"
}

func (e *elsewhereError) Error() string {
	return fmt.Sprintf("port %s listens on %s only inside the container: bind it to 0.0.0.0",
		e.port, strings.Join(e.addrs, " and "))
}

func (e *elsewhereError) Unwrap() error { return ErrUnreachableListener }

// unreachableGrace is how long a port may listen only where its published port does
// not reach before a wait gives up ahead of its deadline: long enough for an entrypoint
// that runs its server on loopback while it initialises, then restarts it on every
// address. A variable only so that tests can shorten it.
var unreachableGrace = 10 * time.Second

// reachWatch follows, probe by probe, whether a port listens only where its published
// port does not reach, and for how long.
type reachWatch struct {
	port  string    // "8080/tcp", for messages
	since time.Time // start of the current stretch of listening elsewhere only
}

// check returns an elsewhereError while l says that the port listens elsewhere only,
// else nil.
func (w *reachWatch) check(l listeners) error {
	if !l.Known || l.Reachable || len(l.Elsewhere) == 0 {
		w.since = time.Time{}
		return nil
	}
	if w.since.IsZero() {
		w.since = time.Now()
	}
	return &elsewhereError{port: w.port, addrs: l.Elsewhere}
}

// reset ends a stretch: the port was seen reachable, or nothing was known.
func (w *reachWatch) reset() { w.since = time.Time{} }

// over reports whether the port has listened elsewhere only for unreachableGrace.
func (w *reachWatch) over() bool {
	return !w.since.IsZero() && time.Since(w.since) >= unreachableGrace
}

// giveUp is the error of a wait that ends before its deadline because the port has
// listened elsewhere only for unreachableGrace; last is the elsewhereError.
func (w *reachWatch) giveUp(who fmt.Stringer, start time.Time, last error) error {
	return fmt.Errorf("%s: gave up after %s: %w", who, roundDuration(time.Since(start)), last)
}

// tcpPortName spells a port as the messages do: "8080" is "8080/tcp".
func tcpPortName(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if !strings.Contains(p, "/") {
		p += "/tcp"
	}
	return p
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
// container's socket table (a framework container on a local engine) trusts it, and only falls back to timing
// the proxy when it cannot.
const (
	// minWindow is how long a connection through the proxy must stay open to count,
	// at least; longer when the proxy was seen to take longer (maxWindow at most).
	minWindow = 100 * time.Millisecond
	maxWindow = time.Second
)

// portProbe probes one published port, with the container's socket table when it can.
type portProbe struct {
	addr    string             // the published host address
	listen  waitwire.Listening // nil when the socket table cannot be read
	port    string
	watch   reachWatch
	slowest time.Duration // the longest the proxy took to close a connection
	known   bool          // the socket table was read at least once
}

// errNotListening says the container's socket table has no listener on the port.
var errNotListening = errors.New("nothing listens on the port in the container")

// probe reports nil when a process in the container listens on the port and the
// published address accepts connections.
func (p *portProbe) probe(ctx context.Context) error {
	if p.listen != nil {
		l := p.listen.Listeners(p.port)
		elsewhere := p.watch.check(l)
		switch {
		case l.Known && l.Reachable:
			p.known = true
			// The process listens. The published address must accept too (the
			// engine's forwarding is in place); what happens behind it is known.
			return dial(ctx, p.addr, time.Second)
		case elsewhere != nil:
			p.known = true
			return elsewhere
		case l.Known:
			p.known = true
			return errNotListening
		case p.known:
			// It was readable and is no longer: the container's process is gone (or
			// being replaced). The proxy may still accept on the published port and
			// hold the connection while it dials an address nobody answers on, so
			// timing it now would call a dead port ready.
			return errNotListening
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
