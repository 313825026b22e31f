package containers

import (
	"github.com/containertest/containertest/internal/eventhub"
	"github.com/containertest/containertest/internal/waitwire"

	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containertest/containertest/internal/engine"
)

// BuildsRun reports how many builds this process sent to the engine.
func BuildsRun() int64 { return buildsRun.Load() }

// EventStream reports whether the event hub has a stream open, and returns a channel
// that is closed when the goroutine of the most recently opened stream has returned
// (nil when none was ever opened).
func EventStream() (open bool, done <-chan struct{}) { return eventhub.Default.Stream() }

// SetBeforeSendHook makes f run in every build between its key and its archive, until
// the test ends.
func SetBeforeSendHook(t interface{ Cleanup(func()) }, f func()) {
	testHookBeforeSend = f
	t.Cleanup(func() { testHookBeforeSend = nil })
}

// FailSessionDial makes BuildKit sessions fail to dial with err until the test ends.
func FailSessionDial(t interface{ Cleanup(func()) }, err error) {
	orig := dialSession
	dialSession = func(context.Context, *engine.Engine, string, map[string][]string) (net.Conn, error) { return nil, err }
	t.Cleanup(func() { dialSession = orig })
}

var (
	builtMu sync.Mutex
	built   = map[string][]string{} // absolute context dir -> image ids
)

func init() {
	// The project's tests share the engine with other suites' build caches: eviction
	// touches nothing unless a test scopes it to its own images (EvictOnlyUnder).
	none := func(string) bool { return false }
	testHookEvictScope.Store(&none)
	testHookImage = func(ctx context.Context, eng *engine.Engine, dir, tag string) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return
		}
		ins, err := eng.Client.ImageInspect(ctx, tag)
		if err != nil {
			return
		}
		builtMu.Lock()
		defer builtMu.Unlock()
		if !slices.Contains(built[abs], ins.ID) {
			built[abs] = append(built[abs], ins.ID)
		}
	}
}

// BuiltImages returns the ids of the images that Builds of the context directory dir
// returned in this process, the ones a NoCache rebuild replaced included.
func BuiltImages(dir string) []string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	builtMu.Lock()
	defer builtMu.Unlock()
	return slices.Clone(built[abs])
}

// EvictOnlyUnder makes build cache eviction, until the test ends, consider only the
// images built from context directories under root, and evict them without grace.
func EvictOnlyUnder(t interface{ Cleanup(func()) }, root string) {
	root = filepath.Clean(root) + string(filepath.Separator)
	scope := func(dir string) bool { return strings.HasPrefix(dir, root) }
	old := testHookEvictScope.Swap(&scope)
	t.Cleanup(func() { testHookEvictScope.Store(old) })
}

// Labels that tell eviction where a cached image came from.
const (
	LabelBuildSource  = labelBuildSource
	LabelBuildContext = labelBuildContext
)

// StatusOf is the container's state from the engine's events, as the strategies of
// package wait see it.
func StatusOf(c *Container) waitwire.Status { return c.state() }

// StatusChangedOf returns a channel closed at the next change of StatusOf.
func StatusChangedOf(c *Container) <-chan struct{} { return c.stateChanged() }

// PoolAutoMax is the most containers a self-sizing pool keeps starting or ready.
const PoolAutoMax = autoMax

// ObservePool makes p call f, under its lock, after each top-up, with the containers
// starting or ready (pending) and how many it wants (target), until the test ends.
func ObservePool(t interface{ Cleanup(func()) }, p *Pool, f func(pending, target int)) {
	p.mu.Lock()
	p.observe = f
	p.mu.Unlock()
	t.Cleanup(func() {
		p.mu.Lock()
		p.observe = nil
		p.mu.Unlock()
	})
}
