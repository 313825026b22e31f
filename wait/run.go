package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containertest/containertest/internal/waitwire"
)

func init() {
	waitwire.Ready = func(ctx context.Context, t, s any, timeout time.Duration) error {
		var st Strategy
		if s != nil {
			st = s.(Strategy)
		}
		return ready(ctx, t.(Target), st, timeout)
	}
}

// ready waits until s reports t ready (the containers package calls it through
// waitwire.Ready). timeout is the spec's start timeout: when it is
// positive, the wait ends after it or at ctx's deadline, whichever comes first. When it
// is zero, ctx's deadline applies if ctx has one (it wins over the default), otherwise
// waitwire.DefaultTimeout. A strategy's own Timeout applies within that.
//
// When the container exits while s waits, and s does not wait for an exit (ForExit, or
// a combination holding it), ready returns at once, woken by the target's status, with the
// exit code and OOM flag (a log wait first reads what the container wrote before it
// exited, and is satisfied if that holds the match); the error then wraps ErrExited. A strategy that fails on its
// own first (a command that could not run in a stopping container) gets a moment for
// the exit to be reported, so that the error names the cause. Every error wraps
// ErrNotReady and ends with the container's last log lines.
func ready(ctx context.Context, t Target, s Strategy, timeout time.Duration) error {
	if s == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok && timeout <= 0 {
		timeout = waitwire.DefaultTimeout()
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	exits := expectsExit(s)
	wctx := ctx
	if !exits {
		var stop func()
		wctx, stop = watchExit(ctx, t)
		defer stop()
	}

	err := s.WaitUntilReady(wctx, t)
	if err == nil {
		return nil
	}
	if !exits {
		if ctx.Err() == nil && !observed(t).Status().Exited {
			// A strategy that failed on its own may have run into a container that is
			// going away: give its die event a moment to arrive, so that the error
			// names the cause.
			awaitExit(ctx, t, exitGrace)
		}
		if st := observed(t).Status(); st.Exited || errors.Is(context.Cause(wctx), ErrExited) {
			err = &exitedError{strategy: describe(s), name: t.Name(), status: exitedStatus(t, err, st), detail: lastSeen(err)}
		}
	}
	if _, ok := s.(selfDescribing); !ok {
		if name := describe(s); !strings.HasPrefix(err.Error(), name) {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}
	return &readyError{err: err, tail: lastLines(ctx, t)}
}

// exitGrace is how long Ready waits for a die event after a strategy failed.
const exitGrace = 200 * time.Millisecond

// oomGrace is how long an exit by SIGKILL (code 137) waits for the engine to say that
// it was an out-of-memory kill before it is reported without that: the engine sends
// the die and oom events of one kill in either order, and on a busy machine the oom
// event, and the state that records the kill, came more than half a second late.
const oomGrace = 2 * time.Second

// oomRecheck is how often, within oomGrace, the engine's state is asked when no oom
// event came.
const oomRecheck = 500 * time.Millisecond

// exitStatus returns the status of a container seen to exit, st, once an exit with
// code 137 has had oomGrace for an oom event or the engine's state to say why.
func exitStatus(t Target, st status) status {
	if !st.Exited || st.OOMKilled || st.ExitCode != 137 {
		return st
	}
	timer := time.NewTimer(oomGrace)
	defer timer.Stop()
	recheck := time.NewTicker(oomRecheck)
	defer recheck.Stop()
	for {
		ch := observed(t).StatusChanged()
		if now := observed(t).Status(); !now.Exited || now.OOMKilled {
			if now.Exited {
				st = now
			}
			return st
		}
		select {
		case <-ch:
		case <-recheck.C:
			if now := reinspected(t, st); now.OOMKilled {
				return now
			}
		case <-timer.C:
			return reinspected(t, st)
		}
	}
}

// reinspected is st, or the engine's answer when it knows of an out-of-memory kill
// that no event has reported yet.
func reinspected(t Target, st status) status {
	r, ok := framework(t).(waitwire.Reinspector)
	if !ok {
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if now, err := r.Reinspect(ctx); err == nil && now.Exited && now.OOMKilled {
		return now
	}
	return st
}

// exitedStatus is exitStatus for a strategy that failed with err: when err already
// reports the exit, its status has had the grace, and is the one to use.
func exitedStatus(t Target, err error, st status) status {
	var ee *exitedError
	if errors.As(err, &ee) && ee.status.Exited {
		return ee.status
	}
	return exitStatus(t, st)
}

// awaitExit waits until t's status says it exited, at most d.
func awaitExit(ctx context.Context, t Target, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		ch := observed(t).StatusChanged()
		if observed(t).Status().Exited {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// lastSeen digs what a strategy saw last out of its error, for a message about the
// container's exit: "connection refused", "log matched 1 of 2".
func lastSeen(err error) string {
	var te *timeoutError
	if errors.As(err, &te) && te.last != "" {
		return "last saw: " + te.last
	}
	var ee *exitedError
	if errors.As(err, &ee) {
		return ee.detail
	}
	return ""
}

// watchExit returns a context that is cancelled, with cause ErrExited, as soon as t's
// status says its process exited. stop releases the watch.
func watchExit(ctx context.Context, t Target) (wctx context.Context, stop func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			ch := observed(t).StatusChanged()
			if observed(t).Status().Exited {
				cancel(ErrExited)
				return
			}
			select {
			case <-ch:
			case <-wctx.Done():
				return
			}
		}
	}()
	return wctx, func() { cancel(nil) }
}

// readyError is what Ready returns: the strategy's error, marked ErrNotReady, with the
// container's last log lines.
type readyError struct {
	err  error
	tail string
}

func (e *readyError) Error() string {
	return ErrNotReady.Error() + ": " + e.err.Error() + e.tail
}

func (e *readyError) Unwrap() []error { return []error{ErrNotReady, e.err} }

// lastLines formats the container's last log lines for an error message.
func lastLines(ctx context.Context, t Target) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	tl, ok := framework(t).(waitwire.Tailer)
	if !ok {
		return ""
	}
	s, err := tl.LogTail(ctx, 20)
	if err != nil || strings.TrimSpace(s) == "" {
		return ""
	}
	return "\nlast log lines:\n\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

// describe names a strategy for a message.
func describe(s Strategy) string {
	if d, ok := s.(fmt.Stringer); ok {
		return d.String()
	}
	return fmt.Sprintf("%T", s)
}

// selfDescribing is implemented by the strategies of this package, whose errors name
// what failed themselves; Ready names other strategies in their errors.
type selfDescribing interface{ selfDescribing() }

// exitWaiter is implemented by strategies that are satisfied by the container's exit.
type exitWaiter interface{ expectsExit() bool }

// expectsExit reports whether s waits for the container to exit (ForExit, or a
// combination holding it), so that an exit must not fail the wait early.
func expectsExit(s Strategy) bool {
	e, ok := s.(exitWaiter)
	return ok && e.expectsExit()
}
