package wait

import (
	"context"
	"fmt"
	"time"
)

// ExitStrategy waits until the container's process has exited with a given code.
// See ForExit.
type ExitStrategy struct {
	code    int
	timeout time.Duration
}

// ForExit waits until the container's process has exited with code: for one-shot and
// init containers (a migration, a data loader). Another exit code fails at once with an
// error wrapping ErrExited. It follows the die event through the engine's event
// stream; it does not poll. Ready does not treat the exit as a failure when it waits for ForExit
// or a combination holding it.
func ForExit(code int) *ExitStrategy { return &ExitStrategy{code: code} }

// Timeout returns a copy of s with a deadline of its own.
func (s *ExitStrategy) Timeout(d time.Duration) *ExitStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "exit with code 0".
func (s *ExitStrategy) String() string { return fmt.Sprintf("exit with code %d", s.code) }

func (s *ExitStrategy) expectsExit() bool { return true }

// WaitUntilReady implements Strategy.
func (s *ExitStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if !isObserved(t) {
		return fmt.Errorf("%s: container %s does not report its state (the target follows no engine events)", s, t.Name())
	}
	for {
		ch := observed(t).StatusChanged()
		st := observed(t).Status()
		if st.Exited {
			if st.ExitCode == s.code {
				return nil
			}
			return &exitedError{strategy: s.String(), name: t.Name(), status: exitStatus(t, st), want: s.code, wantExit: true}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			last := "still running"
			if !st.Running {
				last = "not started"
			}
			return notReady(ctx, s, start, last)
		}
	}
}
