package scope

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTB records what a cleanup does to its test. Methods it does not override panic
// (the embedded TB is nil): scope must not call them.
type fakeTB struct {
	testing.TB
	name     string
	failed   bool
	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Failed() bool { return f.failed }
func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// end runs the registered cleanups as the testing package does at the end of a test.
func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// recorder builds resources whose hooks record what happened to them.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) resource(kind Kind, name string) Resource {
	return Resource{
		Kind:   kind,
		Name:   name,
		Remove: func(context.Context) error { r.add("remove " + name); return nil },
		Kept:   func(context.Context) { r.add("kept " + name) },
	}
}

func TestCleanupRemovesContainersConcurrentlyThenNetworksThenVolumes(t *testing.T) {
	t.Setenv("CONTAINERTEST_KEEP", "")
	ft := &fakeTB{name: "T"}
	var rec recorder
	// Both containers must be in Remove at once, or neither returns.
	var both sync.WaitGroup
	both.Add(2)
	for _, name := range []string{"c1", "c2"} {
		r := rec.resource(Container, name)
		r.Remove = func(context.Context) error {
			both.Done()
			done := make(chan struct{})
			go func() { both.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				return errors.New("containers were not removed concurrently")
			}
			rec.add("remove " + name)
			return nil
		}
		Add(ft, r)
	}
	Add(ft, rec.resource(Volume, "v1"))
	Add(ft, rec.resource(Network, "n1"))
	require.Len(t, ft.cleanups, 1, "one cleanup per test")
	ft.end()
	require.Empty(t, ft.errs)
	got := rec.got()
	require.Len(t, got, 4)
	assert.ElementsMatch(t, []string{"remove c1", "remove c2"}, got[:2])
	assert.Equal(t, []string{"remove n1", "remove v1"}, got[2:])
}

func TestCleanupReportsRemoveErrors(t *testing.T) {
	t.Setenv("CONTAINERTEST_KEEP", "")
	ft := &fakeTB{name: "T"}
	Add(ft, Resource{Kind: Network, Name: "network n1", Remove: func(context.Context) error { return errors.New("has active endpoints") }})
	ft.end()
	require.Equal(t, []string{"containertest: cleanup: network n1: has active endpoints"}, ft.errs)
}

func TestRemoveNowRemovesOnceAndIsNeverKept(t *testing.T) {
	t.Setenv("CONTAINERTEST_KEEP", "always")
	ft := &fakeTB{name: "T"}
	var rec recorder
	removeNow := Add(ft, rec.resource(Container, "c1"))
	require.NoError(t, removeNow(context.Background()))
	require.NoError(t, removeNow(context.Background()))
	ft.end()
	require.Empty(t, ft.errs)
	assert.Equal(t, []string{"remove c1"}, rec.got())
}

func TestKeepMode(t *testing.T) {
	for _, c := range []struct {
		keep   string
		failed bool
		want   []string
	}{
		{keep: "", failed: true, want: []string{"remove c1", "remove n1", "remove v1"}},
		{keep: "failed", failed: false, want: []string{"remove c1", "remove n1", "remove v1"}},
		{keep: "failed", failed: true, want: []string{"kept c1", "kept n1", "kept v1"}},
		{keep: "always", failed: false, want: []string{"kept c1", "kept n1", "kept v1"}},
	} {
		t.Run(fmt.Sprintf("keep=%s,failed=%v", c.keep, c.failed), func(t *testing.T) {
			t.Setenv("CONTAINERTEST_KEEP", c.keep)
			ft := &fakeTB{name: "T", failed: c.failed}
			var rec recorder
			// No IDs: nothing to record with the reaper, so no engine is needed.
			Add(ft, rec.resource(Volume, "v1"))
			Add(ft, rec.resource(Network, "n1"))
			Add(ft, rec.resource(Container, "c1"))
			ft.end()
			require.Empty(t, ft.errs)
			assert.Equal(t, c.want, rec.got())
		})
	}
}

// A container that its BeforeRemove keeps keeps the test's networks and volumes too
// (it may still use them); their BeforeRemove is not asked.
func TestBeforeRemoveKeepsContainerAndItsNetworks(t *testing.T) {
	t.Setenv("CONTAINERTEST_KEEP", "")
	ft := &fakeTB{name: "T", failed: true}
	var rec recorder
	c := rec.resource(Container, "c1")
	c.BeforeRemove = func(_ context.Context, failed bool) bool {
		rec.add(fmt.Sprintf("diagnose c1 failed=%v", failed))
		return true
	}
	n := rec.resource(Network, "n1")
	n.BeforeRemove = func(context.Context, bool) bool { rec.add("diagnose n1"); return false }
	Add(ft, c)
	Add(ft, n)
	ft.end()
	require.Empty(t, ft.errs)
	assert.Equal(t, []string{"diagnose c1 failed=true", "kept c1", "kept n1"}, rec.got())
	assert.False(t, strings.Contains(strings.Join(rec.got(), ","), "remove"))
}
