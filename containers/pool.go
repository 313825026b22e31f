package containers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/scope"
)

// A Pool hands out fresh, ready containers of one spec, starting the next ones in the
// background while tests run, so that a test asking for a container usually gets one
// that is already up. Create it once (a package variable, or in TestMain) with NewPool
// and call Get in each test; Get is safe for parallel tests.
//
// Every container is handed out once, to one test, and removed when that test ends,
// like a container from Start, except that the removal runs in the background (Close
// waits for it): the pool never reuses a container. At most size containers (for a
// self-sizing pool, its current target) are waiting or starting at any time; each Get
// starts a replacement. Close
// removes the containers nobody took. When the process dies first, the watchdog
// removes them, as it removes every container of the session.
//
// A pool of size 0 sizes itself. It measures how long its starts take (launch to
// ready, the median of the last few) and how often containers are taken (the mean
// interval over the last few Gets and Takes), and keeps ceil(start / interval) + 1
// containers starting or ready: those that cover the takes during one start, and one
// for the next take. Before it has measured a start and two takes it keeps 2. It grows
// only while starting more at once gives more containers per second: it records how
// long starts take by how many were in flight, and stops before the number of starts
// at once at which a further start added less than a quarter of what each start made
// per second before (until that is known, it tries one more than the most it has
// measured). It never holds more than 8. When the target drops it starts fewer
// replacements; it never removes a ready container.
//
// A pool helps when a suite runs many short tests, each needing a fresh container
// whose start costs as much as (or more than) the test's own work: the start of the
// next container overlaps the current test. It does not help a single test, a test
// that changes the spec (a pool serves exactly one spec), or a suite whose tests run
// all at once in parallel beyond size (they wait for starts as they would with Start),
// and it costs up to size idle containers after the last test, until Close. No pool
// makes containers faster than the engine starts them: starting in the background
// costs the engine the same work, so when tests take less time than the engine needs
// per container (on a 2-core machine a local engine manages about three starts a
// second at best, with three or more at once), the suite waits for the engine,
// whatever the size. A self-sizing pool then stops growing where more starts at once
// only slow each one down; a fixed size beyond that point costs idle containers and
// buys nothing. Nor does a self-sizing pool help the first few tests: it learns from
// them.
type Pool struct {
	spec Spec
	size int  // the fixed size; with auto, the bound (autoMax)
	auto bool // size 0: sized by sizer

	// observe, when set (by tests), is called under mu after each top-up with the
	// containers pending and the target.
	observe func(pending, target int)

	done chan struct{} // closed by Close

	mu      sync.Mutex
	pending int // containers starting or waiting in results
	closed  bool
	sizer   sizer // auto only
	wg      sync.WaitGroup
	results chan poolResult // capacity size (at most pending): a start never blocks on sending

	removing   sync.WaitGroup // background removals of handed-out containers
	removeErrs []error
}

type poolResult struct {
	c   *Container
	err error
}

// ErrPoolClosed is returned (and reported by Get) once a pool has been closed.
var ErrPoolClosed = errors.New("pool closed")

// NewPool returns a pool of up to size fresh containers of spec, or with size 0 a pool
// that sizes itself to the time its starts take and the pace of its Gets (see Pool).
// Nothing starts until the first Get or Prewarm. An invalid spec or a negative size is
// reported by Get.
func NewPool(spec Spec, size int) *Pool {
	auto := size == 0
	switch {
	case auto:
		size = autoMax
	case size < 0:
		spec = spec.fail(fmt.Errorf("pool size %d: must be 0 (self-sizing) or more", size))
		size = 1
	}
	if spec.name != "" {
		spec = spec.fail(errors.New("pool of a Named spec: each pooled container needs a name of its own; drop Named and reach them by network alias"))
	}
	return &Pool{
		spec:    spec,
		size:    size,
		auto:    auto,
		done:    make(chan struct{}),
		results: make(chan poolResult, size),
	}
}

// Prewarm starts the pool's containers without waiting for them, for TestMain: the
// first tests then find them ready. It returns ErrPoolClosed after Close and the
// spec's input errors.
func (p *Pool) Prewarm() error {
	if err := p.spec.Err(); err != nil {
		return fmt.Errorf("pool: invalid spec: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPoolClosed
	}
	p.fillLocked()
	return nil
}

// targetLocked returns how many containers should be pending: the size, or for a
// self-sizing pool what its estimates call for.
func (p *Pool) targetLocked() int {
	if !p.auto {
		return p.size
	}
	return autoTarget(p.sizer.estimates())
}

// fillLocked starts containers until the target are pending. It never removes one:
// when the target drops, fewer replacements start.
func (p *Pool) fillLocked() {
	target := p.targetLocked()
	for p.pending < target {
		p.pending++
		p.wg.Add(1)
		t0 := time.Now()
		var busy0 time.Duration
		if p.auto {
			busy0 = p.sizer.launched(t0)
		}
		go func() {
			defer p.wg.Done()
			// Not cancelled by Close: a create cancelled in flight can leave a container
			// the engine made but never named to us. Close waits for the start instead;
			// the spec's start timeout bounds it.
			c, err := p.spec.start(context.Background(), nil)
			if p.auto {
				p.mu.Lock()
				p.sizer.land(t0, busy0, time.Now(), err == nil)
				if !p.closed {
					// The measurement may have raised the target. A start of this
					// goroutine's is counted in wg, so Close's Wait covers it.
					p.fillLocked()
				}
				p.mu.Unlock()
			}
			p.results <- poolResult{c, err} // counted in pending: never blocks
		}()
	}
	if p.observe != nil {
		p.observe(p.pending, target)
	}
}

// Get returns a fresh, ready container of the pool's spec for t, removed when t ends
// (CONTAINERTEST_KEEP applies to it as to a container from Start). It waits for one
// when none is ready. On any error the test fails at once; with no engine the test is
// skipped, as with Start.
func (p *Pool) Get(t testing.TB) *Container {
	t.Helper()
	RequireDocker(t)
	c, err := p.get(t.Context())
	if err != nil {
		t.Fatalf("containers: %v", err)
	}
	c.t = t
	c.removeNow = scope.Add(t, scope.Resource{
		Kind:         scope.Container,
		ID:           c.id,
		Name:         "container " + c.name,
		Remove:       p.removeInBackground(c),
		BeforeRemove: c.beforeRemove,
	})
	return c
}

// Take is Get without a test, for TestMain or a benchmark: it returns a fresh, ready
// container that the caller must Terminate, or an error.
func (p *Pool) Take(ctx context.Context) (*Container, error) {
	return p.get(ctx)
}

// removeInBackground returns the teardown of a handed-out container: the removal
// (kill, then remove) runs in the background, so that the next test need not wait for
// it, and Close waits for it. A failed test's diagnosis (BeforeRemove) and the keep
// mode are applied before, as for any container. If the process ends first, the
// watchdog removes the container.
func (p *Pool) removeInBackground(c *Container) func(context.Context) error {
	return func(context.Context) error {
		p.removing.Add(1)
		go func() {
			defer p.removing.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := c.remove(ctx); err != nil {
				p.mu.Lock()
				p.removeErrs = append(p.removeErrs, err)
				p.mu.Unlock()
			}
		}()
		return nil
	}
}

// get takes the next ready container, skipping any that died while waiting.
func (p *Pool) get(ctx context.Context) (*Container, error) {
	if err := p.spec.Err(); err != nil {
		return nil, fmt.Errorf("pool: invalid spec: %w", err)
	}
	for first := true; ; first = false {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		if p.auto && first {
			p.sizer.took(time.Now())
		}
		p.fillLocked()
		p.mu.Unlock()

		var r poolResult
		select {
		case r = <-p.results:
		case <-p.done:
			return nil, ErrPoolClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("pool: wait for a container: %w", ctx.Err())
		}
		p.mu.Lock()
		p.pending--
		closed := p.closed
		if !closed {
			p.fillLocked() // the replacement starts while the caller's test runs
		}
		p.mu.Unlock()
		if r.err != nil {
			return nil, fmt.Errorf("pool: start container: %w", r.err)
		}
		if closed {
			p.discard(r.c)
			return nil, ErrPoolClosed
		}
		if st := r.c.state(); st.Exited {
			// It ran while waiting and is gone: a pooled container is only ever handed
			// out ready, so take the next one.
			p.discard(r.c)
			continue
		}
		return r.c, nil
	}
}

func (p *Pool) discard(c *Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.remove(ctx)
}

// Close stops starting containers and removes those nobody took, waiting for starts
// in progress (they finish, then go) and for the background removals of handed-out containers whose tests
// have ended. Containers handed out to tests still running stay with their tests. A Get after Close fails
// with ErrPoolClosed. Close is safe to call more than once; it returns the removal
// errors.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		errs []error
		wg   sync.WaitGroup
		mu   sync.Mutex
	)
	for {
		select {
		case r := <-p.results:
			if r.err != nil || r.c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.c.remove(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
			continue
		default:
		}
		break
	}
	wg.Wait()
	p.removing.Wait()
	p.mu.Lock()
	errs = append(errs, p.removeErrs...)
	p.removeErrs = nil
	p.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close pool: %w", err)
	}
	return nil
}

// CloseWith closes the pool when tb ends (tb.Cleanup), for a pool used by the
// subtests of one test. It returns p.
func (p *Pool) CloseWith(tb testing.TB) *Pool {
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("containers: %v", err)
		}
	})
	return p
}
