package wait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Pacing of repeated probes. The first retry comes after firstDelay, each later one
// after half as long again, up to a cap that grows with the time already waited: a
// fraction of it (1/ratio), never below floor nor above max. So a container that
// becomes ready soon is seen within a few milliseconds, and one that takes long is not
// probed more than its wait warrants.
const firstDelay = 2 * time.Millisecond

// pace is how often a kind of probe may repeat.
type pace struct {
	floor, max time.Duration
	ratio      time.Duration
}

var (
	// probePace is for dials and HTTP requests, which cost almost nothing: every 5 ms
	// during the first second, then 1/200 of the time waited, up to 100 ms.
	probePace = pace{floor: 5 * time.Millisecond, max: 100 * time.Millisecond, ratio: 200}
	// execPace is for readiness commands, each a process the engine starts.
	execPace = pace{floor: 20 * time.Millisecond, max: 500 * time.Millisecond, ratio: 10}
	// funcPace is for ForFunc functions, whose cost is unknown.
	funcPace = pace{floor: 5 * time.Millisecond, max: 200 * time.Millisecond, ratio: 50}
)

// backoff yields growing delays between probes.
type backoff struct {
	pace
	next  time.Duration
	start time.Time
}

func newBackoff(p pace) *backoff { return &backoff{pace: p, next: firstDelay, start: time.Now()} }

// delay returns the next delay.
func (b *backoff) delay() time.Duration {
	limit := min(max(time.Since(b.start)/b.ratio, b.floor), b.max)
	d := min(b.next, limit)
	b.next = min(b.next*3/2, b.max)
	return d
}

// sleep waits for the next delay or until ctx is done, and reports whether the delay
// passed.
func (b *backoff) sleep(ctx context.Context) bool {
	t := time.NewTimer(b.delay())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// withTimeout applies a strategy's own timeout, if any, to ctx.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// over reports whether ctx is done or its deadline has passed. The socket deadline a
// dial takes from ctx can fire a moment before ctx reports itself done; what such a
// probe saw ("i/o timeout") says less than the probe before it.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// timeoutError says that a strategy gave up because its context ended, and what it
// saw last. It wraps ErrNotReady and the context's cause (context.DeadlineExceeded
// for a timeout).
type timeoutError struct {
	strategy string
	elapsed  time.Duration
	last     string
	cause    error
	because  error // what the last probe ran into, when that is worth errors.Is; may be nil
}

func (e *timeoutError) Error() string {
	var b strings.Builder
	b.WriteString(e.strategy)
	if errors.Is(e.cause, context.DeadlineExceeded) {
		fmt.Fprintf(&b, ": timed out after %s", roundDuration(e.elapsed))
	} else {
		fmt.Fprintf(&b, ": gave up after %s (%v)", roundDuration(e.elapsed), e.cause)
	}
	if e.last != "" {
		b.WriteString(": ")
		b.WriteString(e.last)
	}
	return b.String()
}

func (e *timeoutError) Unwrap() []error {
	if e.because != nil {
		return []error{ErrNotReady, e.cause, e.because}
	}
	return []error{ErrNotReady, e.cause}
}

// notReady builds the error a strategy returns when ctx ended before the target was
// ready.
func notReady(ctx context.Context, s fmt.Stringer, start time.Time, last string) error {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	return &timeoutError{strategy: s.String(), elapsed: time.Since(start), last: last, cause: cause}
}

// notReadyBecause is notReady that also wraps lastErr, what the last probe ran into,
// when that is a sentinel worth errors.Is (ErrUnreachableListener).
func notReadyBecause(ctx context.Context, s fmt.Stringer, start time.Time, last string, lastErr error) error {
	err := notReady(ctx, s, start, last)
	if errors.Is(lastErr, ErrUnreachableListener) {
		err.(*timeoutError).because = lastErr
	}
	return err
}

// exitedError says that the container exited while a strategy waited for something
// else, or exited with a code other than the one ForExit wants. It wraps ErrNotReady
// and ErrExited.
type exitedError struct {
	strategy string
	name     string // container name; may be empty
	status   status
	want     int  // the exit code wanted, when wantExit
	wantExit bool // ForExit: the exit was expected, its code was not
	detail   string
}

func (e *exitedError) Error() string {
	var b strings.Builder
	b.WriteString(e.strategy)
	b.WriteString(": container ")
	if e.name != "" {
		b.WriteString(e.name + " ")
	}
	fmt.Fprintf(&b, "exited with code %d", e.status.ExitCode)
	switch {
	case e.status.OOMKilled:
		b.WriteString(" (out of memory)")
	case e.status.OOMUnreported && e.status.ExitCode == 137:
		b.WriteString(" (SIGKILL: out of memory, or killed; the engine does not report which)")
	}
	if e.wantExit {
		fmt.Fprintf(&b, ", want %d", e.want)
	} else {
		b.WriteString(" while waiting")
	}
	if e.detail != "" {
		b.WriteString(" (" + e.detail + ")")
	}
	return b.String()
}

func (e *exitedError) Unwrap() []error { return []error{ErrNotReady, ErrExited} }

// roundDuration rounds d for a message: milliseconds below a second, tenths above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// closedAtOnce describes a connection that was accepted and closed without an answer.
// Where the container's socket table is out of reach (an engine in a VM), this is also
// all a server that listens on 127.0.0.1 inside the container ever shows.
const closedAtOnce = "connection closed at once (nothing listening behind the published port, or only on 127.0.0.1 inside the container)"

// describeErr says briefly what a failed dial or request ran into: "connection refused"
// rather than the whole chain of dial, address and syscall.
func describeErr(err error) string {
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "server closed idle connection"):
		return closedAtOnce
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	}
	return err.Error()
}

// oneLine shortens probe output for a message: whitespace collapsed, at most limit
// bytes, keeping the end (where the reason usually is).
func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		i := len(s) - limit
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		s = "…" + s[i:]
	}
	return s
}

func (*PortStrategy) selfDescribing()   {}
func (*LogStrategy) selfDescribing()    {}
func (*HTTPStrategy) selfDescribing()   {}
func (*HealthStrategy) selfDescribing() {}
func (*ExecStrategy) selfDescribing()   {}
func (*ExitStrategy) selfDescribing()   {}
func (*FuncStrategy) selfDescribing()   {}
func (*AllStrategy) selfDescribing()    {}
func (*AnyStrategy) selfDescribing()    {}
