// Package scope ties the resources a test creates to the end of that test.
//
// Each testing.TB gets one t.Cleanup, registered when its first resource is added.
// At the end of the test it removes the test's containers concurrently, then its
// networks, then its volumes, each on a context of its own (t.Context() is already
// cancelled when cleanups run).
package scope

import (
	"context"
	"sync"
	"testing"
	"time"
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
	// Remove deletes the resource. It is called at most once.
	Remove func(ctx context.Context) error
	// BeforeRemove, when set, runs first with whether the test failed (a diagnosis
	// of a container, say). It returns true to keep the resource instead of removing it.
	BeforeRemove func(ctx context.Context, failed bool) (keep bool)
	// Kept, when set, is called instead of Remove for a network or volume that stays
	// because a container of the same test was kept (it may still be attached).
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
	e.once.Do(func() { e.err = e.Remove(ctx) })
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
				if k != Container && keptAny {
					if e.Kept != nil {
						e.Kept(ctx)
					}
					return
				}
				if e.BeforeRemove != nil && e.BeforeRemove(ctx, failed) {
					errMu.Lock()
					keptAny = true
					errMu.Unlock()
					return
				}
				if err := e.remove(ctx); err != nil {
					errMu.Lock()
					errs = append(errs, e.Name+": "+err.Error())
					errMu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	for _, e := range errs {
		t.Errorf("containertest: cleanup: %s", e)
	}
}
