package wait

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultTimeout is the startup deadline used when neither the context, the strategy nor
// the spec sets one: CONTAINERTEST_START_TIMEOUT (a Go duration such as "90s") or 60 s.
func DefaultTimeout() time.Duration {
	if v := os.Getenv("CONTAINERTEST_START_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return 60 * time.Second
}

// errDied is the cancel cause used when the container exits during a wait.
var errDied = errors.New("container exited")

// Ready waits until s reports t ready, within timeout (DefaultTimeout when zero) unless
// ctx has an earlier deadline. When the container dies while s waits, and s does not
// wait for an exit, Ready returns at once with the exit code, the OOM flag and the last
// log lines. Every failure wraps ErrNotReady.
func Ready(ctx context.Context, t Target, s Strategy, timeout time.Duration) error {
	if s == nil {
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultTimeout()
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	defer cancelTimeout()
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	if !ExpectsExit(s) {
		go func() {
			for {
				ch := t.StatusChanged()
				if t.Status().Exited {
					cancel(errDied)
					return
				}
				select {
				case <-ch:
				case <-wctx.Done():
					return
				}
			}
		}()
	}

	err := s.WaitUntilReady(wctx, t)
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(wctx), errDied) {
		st := t.Status()
		oom := ""
		if st.OOMKilled {
			oom = " (out of memory)"
		}
		return fmt.Errorf("%w: %s: container %s exited with code %d%s while waiting%s",
			ErrNotReady, describe(s), t.Name(), st.ExitCode, oom, lastLines(t))
	}
	if errors.Is(err, ErrNotReady) {
		return fmt.Errorf("%w%s", err, lastLines(t))
	}
	return fmt.Errorf("%w: %s: %w%s", ErrNotReady, describe(s), err, lastLines(t))
}

// lastLines formats the container's last log lines for an error message.
func lastLines(t Target) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := t.LogTail(ctx, 20)
	if err != nil || strings.TrimSpace(s) == "" {
		return ""
	}
	return "\nlast log lines:\n\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

func describe(s Strategy) string {
	if d, ok := s.(fmt.Stringer); ok {
		return d.String()
	}
	return fmt.Sprintf("%T", s)
}

// exitWaiter is implemented by strategies that are satisfied by the container's exit.
type exitWaiter interface{ expectsExit() bool }

// ExpectsExit reports whether s waits for the container to exit (ForExit, or a
// combination holding it), so that an exit must not fail the wait early.
func ExpectsExit(s Strategy) bool {
	e, ok := s.(exitWaiter)
	return ok && e.expectsExit()
}
