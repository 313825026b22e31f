package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultMaxParallelStarts is how many containers StartAll and RunAll start at once
// unless a Group says otherwise, so that a large stack does not flood the engine.
const DefaultMaxParallelStarts = 8

// A Group starts several specs together, as StartAll and RunAll do, with its own
// settings. The zero value is ready to use; a Group is a value, safe to share:
//
//	all := containers.Group{MaxParallel: 2}.StartAll(t, db, cache, api)
type Group struct {
	// MaxParallel bounds how many containers start at once; zero means
	// DefaultMaxParallelStarts. A negative value is an error.
	MaxParallel int
}

// StartAll starts specs concurrently, each as soon as the specs it DependsOn are ready,
// and returns the containers in input order. On the first failure it cancels the
// starts still under way and fails the test; everything started is removed.
func StartAll(t testing.TB, specs ...Spec) []*Container {
	t.Helper()
	return Group{}.StartAll(t, specs...)
}

// RunAll is StartAll without a test: on success the caller must Terminate every
// container; on failure nothing is left behind.
func RunAll(ctx context.Context, specs ...Spec) ([]*Container, error) {
	return Group{}.RunAll(ctx, specs...)
}

// StartAll is the package's StartAll with g's settings.
func (g Group) StartAll(t testing.TB, specs ...Spec) []*Container {
	t.Helper()
	RequireDocker(t)
	cs, err := g.startAll(t.Context(), t, specs)
	if err != nil {
		t.Fatalf("containers: %v", err)
	}
	return cs
}

// RunAll is the package's RunAll with g's settings.
func (g Group) RunAll(ctx context.Context, specs ...Spec) ([]*Container, error) {
	return g.startAll(ctx, nil, specs)
}

// startOrder checks names and dependencies and returns, per spec, the indexes of the
// specs it waits for.
func startOrder(specs []Spec) ([][]int, error) {
	// A spec is known by its name and by its network aliases, so that stacks can use
	// aliases (unique per network) instead of engine-wide container names.
	byName := map[string]int{}
	for i, s := range specs {
		names := []string{}
		if s.name != "" {
			names = append(names, s.name)
		}
		for _, na := range s.networks {
			names = append(names, na.aliases...)
		}
		for _, n := range names {
			if j, dup := byName[n]; dup && j != i {
				return nil, fmt.Errorf("specs %s and %s are both named %q", specLabel(specs[j], j), specLabel(s, i), n)
			}
			byName[n] = i
		}
	}
	deps := make([][]int, len(specs))
	for i, s := range specs {
		for _, d := range s.dependsOn {
			j, ok := byName[d]
			if !ok {
				return nil, fmt.Errorf("spec %s depends on %q, which is not in the group (named specs: %s)", specLabel(s, i), d, namesOf(byName))
			}
			if j == i {
				return nil, fmt.Errorf("spec %s depends on itself", specLabel(s, i))
			}
			deps[i] = append(deps[i], j)
		}
	}
	// Detect cycles with a depth-first search.
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(specs))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case visiting:
			return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(path, " -> "), specLabel(specs[i], i))
		case done:
			return nil
		}
		state[i] = visiting
		path = append(path, specLabel(specs[i], i))
		for _, j := range deps[i] {
			if err := visit(j); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range specs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return deps, nil
}

func specLabel(s Spec, i int) string {
	if s.name != "" {
		return s.name
	}
	return fmt.Sprintf("#%d (%s)", i, s.image)
}

func namesOf(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	return strings.Join(ns, ", ")
}

func (grp Group) startAll(ctx context.Context, t testing.TB, specs []Spec) ([]*Container, error) {
	if grp.MaxParallel < 0 {
		return nil, fmt.Errorf("start group: %w: MaxParallel %d: negative (0 means %d)", ErrInvalidSpec, grp.MaxParallel, DefaultMaxParallelStarts)
	}
	parallel := grp.MaxParallel
	if parallel == 0 {
		parallel = DefaultMaxParallelStarts
	}
	for i, s := range specs {
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("spec %s: invalid spec: %w", specLabel(s, i), err)
		}
	}
	deps, err := startOrder(specs)
	if err != nil {
		return nil, fmt.Errorf("start group: %w: %w", ErrInvalidSpec, err)
	}
	out := make([]*Container, len(specs))
	ready := make([]chan struct{}, len(specs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, parallel)
	for i, s := range specs {
		g.Go(func() error {
			for _, j := range deps[i] {
				select {
				case <-ready[j]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			c, err := s.start(gctx, t)
			<-sem
			if err != nil {
				return fmt.Errorf("spec %s: %w", specLabel(s, i), err)
			}
			out[i] = c
			close(ready[i])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// With a test, the test's cleanup removes them all (after a diagnosis); without
		// one, remove what started now.
		if t == nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			var errs []error
			for _, c := range out {
				if c != nil {
					errs = append(errs, c.Terminate(rctx))
				}
			}
			if rerr := errors.Join(errs...); rerr != nil {
				err = fmt.Errorf("%w (and removing the started containers: %w)", err, rerr)
			}
		}
		return nil, err
	}
	return out, nil
}
