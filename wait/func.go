package wait

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// FuncStrategy waits until a function reports the target ready. See ForFunc.
type FuncStrategy struct {
	fn      func(ctx context.Context, t Target) error
	name    string
	timeout time.Duration
}

// ForFunc waits until fn returns nil: it calls fn at once, then again after a growing
// delay (from a few milliseconds, up to 200 ms for a long wait) while fn returns an
// error. The last error is what a timeout reports. fn should return promptly when ctx
// is done. An error marked with Permanent ends the wait at once. For a check against a client the test already has:
//
//	wait.ForFunc(func(ctx context.Context, t wait.Target) error {
//		port, err := t.LookupPort("6379/tcp")
//		if err != nil {
//			return err
//		}
//		return ping(ctx, net.JoinHostPort(t.Host(), strconv.Itoa(port)))
//	})
func ForFunc(fn func(ctx context.Context, t Target) error) *FuncStrategy {
	if fn == nil {
		panic("wait: ForFunc: nil function")
	}
	return &FuncStrategy{fn: fn, name: funcName(fn)}
}

// Timeout returns a copy of s with a deadline of its own.
func (s *FuncStrategy) Timeout(d time.Duration) *FuncStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "func pkg.checkCache".
func (s *FuncStrategy) String() string { return "func " + s.name }

// WaitUntilReady implements Strategy.
func (s *FuncStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	b := newBackoff(funcPace)
	var last string
	for {
		err := s.fn(ctx, t)
		if err == nil {
			return nil
		}
		if isPermanent(err) {
			return fmt.Errorf("%s: %w", s, err)
		}
		// A call cut short by ctx says less than the one before it.
		if !over(ctx) || last == "" {
			last = err.Error()
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, s, start, last)
		}
	}
}

// funcName names fn by its package-qualified Go name ("wait_test.TestX.func1").
func funcName(fn any) string {
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	if f == nil {
		return "(anonymous)"
	}
	name := f.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
