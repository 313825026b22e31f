package wait

import (
	"context"
	"errors"
	"strings"
	"time"
)

// AllStrategy waits until every one of its strategies is satisfied. See All.
type AllStrategy struct {
	list    []Strategy
	timeout time.Duration
}

// All waits until every strategy is satisfied; they wait concurrently. The first that
// fails for a reason other than the shared deadline (a container without a health
// check, a strategy's own Timeout, an exit with the wrong code) ends the wait at once
// and cancels the others. When the deadline passes, the error joins those of the
// strategies still waiting. nil strategies are ignored; All() is satisfied at once.
func All(strategies ...Strategy) *AllStrategy {
	return &AllStrategy{list: nonNil(strategies)}
}

// Timeout returns a copy of s with a deadline of its own for the whole group.
func (s *AllStrategy) Timeout(d time.Duration) *AllStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "all of (port 80/tcp, log "ready")".
func (s *AllStrategy) String() string { return "all of (" + listString(s.list) + ")" }

func (s *AllStrategy) expectsExit() bool { return anyExpectsExit(s.list) }

// WaitUntilReady implements Strategy.
func (s *AllStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	ctx, cancelTimeout := withTimeout(ctx, s.timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := start(ctx, t, s.list, nil)
	errs := make([]error, len(s.list))
	var first error
	for range s.list {
		r := <-results
		if r.err == nil {
			continue
		}
		errs[r.i] = r.err
		if first == nil && ctx.Err() == nil {
			first = r.err
			cancel(errGroupDone)
		}
	}
	if first != nil {
		return first
	}
	return joinErrors(errs)
}

// AnyStrategy waits until one of its strategies is satisfied. See Any.
type AnyStrategy struct {
	list    []Strategy
	timeout time.Duration
}

// Any waits until one of the strategies is satisfied; they wait concurrently and the
// first success cancels the others. It fails only when every one failed, with their
// errors joined. When one of them waits for an exit (ForExit), an exit ends the others
// at once, as Ready would. nil strategies are ignored; Any() fails at once.
func Any(strategies ...Strategy) *AnyStrategy {
	return &AnyStrategy{list: nonNil(strategies)}
}

// Timeout returns a copy of s with a deadline of its own for the whole group.
func (s *AnyStrategy) Timeout(d time.Duration) *AnyStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "any of (port 80/tcp, exit with code 0)".
func (s *AnyStrategy) String() string { return "any of (" + listString(s.list) + ")" }

func (s *AnyStrategy) expectsExit() bool { return anyExpectsExit(s.list) }

// WaitUntilReady implements Strategy.
func (s *AnyStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	if len(s.list) == 0 {
		return errors.New("any of (): no strategies to wait for")
	}
	ctx, cancelTimeout := withTimeout(ctx, s.timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Ready only watches for an exit when no strategy expects one; then the strategies
	// that cannot be satisfied by a dead container must watch for it themselves.
	var watch func(Strategy) bool
	if s.expectsExit() {
		watch = func(c Strategy) bool { return !expectsExit(c) }
	}
	results := start(ctx, t, s.list, watch)
	errs := make([]error, len(s.list))
	won := false
	for range s.list {
		r := <-results
		if r.err != nil {
			errs[r.i] = r.err
		} else if !won {
			won = true
			cancel(errGroupDone)
		}
	}
	if won {
		return nil
	}
	return joinErrors(errs)
}

// errGroupDone is the cancel cause a group gives the strategies it no longer needs.
var errGroupDone = errors.New("wait group decided")

type result struct {
	i   int
	err error
}

// start runs every strategy of list concurrently; each sends its result once. Those for
// which watch is true wait on a context that ends when the container exits.
func start(ctx context.Context, t Target, list []Strategy, watch func(Strategy) bool) <-chan result {
	results := make(chan result, len(list))
	for i, s := range list {
		go func() {
			sctx := ctx
			if watch != nil && watch(s) {
				var stop func()
				sctx, stop = watchExit(ctx, t)
				defer stop()
			}
			err := s.WaitUntilReady(sctx, t)
			if err != nil && errors.Is(context.Cause(sctx), ErrExited) && ctx.Err() == nil {
				err = &exitedError{strategy: describe(s), name: t.Name(), status: exitedStatus(t, err, observed(t).Status())}
			}
			results <- result{i, err}
		}()
	}
	return results
}

// joinedError holds the errors of several strategies; its message lists them in order.
type joinedError struct{ errs []error }

func (e *joinedError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *joinedError) Unwrap() []error { return e.errs }

// joinErrors joins the non-nil errors of errs, or returns nil.
func joinErrors(errs []error) error {
	var list []error
	for _, err := range errs {
		if err != nil {
			list = append(list, err)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return &joinedError{list}
}

func nonNil(list []Strategy) []Strategy {
	var out []Strategy
	for _, s := range list {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func listString(list []Strategy) string {
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = describe(s)
	}
	return strings.Join(names, ", ")
}

func anyExpectsExit(list []Strategy) bool {
	for _, s := range list {
		if expectsExit(s) {
			return true
		}
	}
	return false
}
