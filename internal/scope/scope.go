// Package scope ties the resources a test creates to the end of that test.
//
// Each testing.TB gets one t.Cleanup, registered when its first resource is added.
// At the end of the test it removes the test's containers concurrently, then its
// networks, then its volumes, each on a context of its own (t.Context() is already
// cancelled when cleanups run).
//
// Keep mode (CONTAINERTEST_KEEP=failed or always, see reaper.KeepMode) is decided here,
// per test: when the test's resources are to be kept, none is removed; those with an ID
// are recorded with reaper.MarkKept, so that neither the watchdog nor a later sweep
// removes them, and a report on how to get into them and remove them is logged.
package scope

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/reaper"
)

// Kind orders removal: all containers first, then networks, then volumes.
type Kind int

// Resource kinds, in removal order.
const (
	Container Kind = iota
	Network
	Volume
	numKinds
)

// A Resource is one thing to remove at the end of a test.
type Resource struct {
	Kind Kind
	// Name is for messages.
	Name string
	// ID is the engine's id of the resource: container or network id, volume name.
	// Without it, a kept resource stays only as long as the test process: the watchdog
	// removes it when the process exits.
	ID string
	// Remove deletes the resource. It is called at most once.
	Remove func(ctx context.Context) error
	// BeforeRemove, when set, runs first with whether the test failed (a diagnosis
	// of a container, say). It returns true to keep the resource instead of removing it;
	// it need not look at the keep mode, which is applied whatever it returns. It is not
	// called for a network or volume that stays because a container was kept.
	BeforeRemove func(ctx context.Context, failed bool) (keep bool)
	// Kept, when set, is called instead of Remove for a resource that stays: because of
	// the keep mode, because its BeforeRemove said so, or (a network or volume) because
	// a container of the same test was kept and may still be attached to it.
	Kept func(ctx context.Context)
}

type list struct {
	mu    sync.Mutex
	items []*entry
}

type entry struct {
	Resource
	once sync.Once
	err  error
	kept bool // set by the cleanup, read after it has waited
	// removed is set once Remove has been called (by removeNow or the cleanup):
	// such a resource is not kept, whatever the keep mode says.
	removed atomic.Bool
}

var (
	mu     sync.Mutex
	byTest = map[testing.TB]*list{}
)

// CleanupTimeout bounds the whole teardown of one test.
const CleanupTimeout = 2 * time.Minute

// Add registers r for removal at the end of t and returns a function that removes it
// now (for an explicit Terminate); calling it more than once is harmless.
func Add(t testing.TB, r Resource) (removeNow func(ctx context.Context) error) {
	t.Helper()
	mu.Lock()
	l, ok := byTest[t]
	if !ok {
		l = &list{}
		byTest[t] = l
	}
	mu.Unlock()
	if !ok {
		t.Cleanup(func() { runCleanup(t, l) })
	}
	e := &entry{Resource: r}
	l.mu.Lock()
	l.items = append(l.items, e)
	l.mu.Unlock()
	return func(ctx context.Context) error { return e.remove(ctx) }
}

func (e *entry) remove(ctx context.Context) error {
	e.once.Do(func() {
		e.removed.Store(true)
		e.err = e.Remove(ctx)
	})
	return e.err
}

func runCleanup(t testing.TB, l *list) {
	t.Helper()
	mu.Lock()
	delete(byTest, t)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()

	l.mu.Lock()
	items := l.items
	l.items = nil
	l.mu.Unlock()

	failed := t.Failed()
	keepAll := reaper.KeepMode().Keeps(failed)
	var errMu sync.Mutex
	var errs []string
	var keptAny bool
	for k := Kind(0); k < numKinds; k++ {
		var wg sync.WaitGroup
		for _, e := range items {
			if e.Kind != k {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// keptAny was last written before the previous kind's wg.Wait.
				var keep bool
				switch {
				case e.removed.Load():
					// Terminated during the test: nothing to keep or diagnose.
				case k != Container && keptAny:
					keep = true
				default:
					keep = keepAll
					if e.BeforeRemove != nil && e.BeforeRemove(ctx, failed) {
						keep = true
					}
				}
				if !keep {
					if err := e.remove(ctx); err != nil {
						errMu.Lock()
						errs = append(errs, e.Name+": "+err.Error())
						errMu.Unlock()
					}
					return
				}
				e.kept = true
				if k == Container {
					errMu.Lock()
					keptAny = true
					errMu.Unlock()
				}
				if e.Kept != nil {
					e.Kept(ctx)
				}
			}()
		}
		wg.Wait()
	}
	for _, e := range errs {
		t.Errorf("containertest: cleanup: %s", e)
	}
	// Kinds in removal order, creation order within a kind.
	var kept []reaper.Ref
	for k := Kind(0); k < numKinds; k++ {
		for _, e := range items {
			if e.Kind == k && e.kept && e.ID != "" {
				kept = append(kept, reaper.Ref{Kind: reaperKind[k], ID: e.ID})
			}
		}
	}
	if len(kept) > 0 {
		reportKept(ctx, t, failed, kept)
	}
}

var reaperKind = [numKinds]reaper.Kind{Container: reaper.Container, Network: reaper.Network, Volume: reaper.Volume}

// reportKept records kept as kept, so that the watchdog and later sweeps leave them
// alone, and reports them: in the test's log when it failed or runs verbosely, else on
// standard error (a passing test's log is not shown).
func reportKept(ctx context.Context, t testing.TB, failed bool, kept []reaper.Ref) {
	t.Helper()
	if err := reaper.MarkKept(ctx, kept...); err != nil {
		t.Errorf("containertest: keep: %v", err)
	}
	infos, err := reaper.Describe(ctx, kept...)
	if err != nil {
		t.Errorf("containertest: keep: %v", err)
	}
	var b strings.Builder
	reaper.Report(&b, infos)
	if failed || testing.Verbose() {
		t.Log(b.String())
	} else {
		os.Stderr.WriteString(t.Name() + ": " + b.String())
	}
}
