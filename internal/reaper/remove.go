package reaper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/engine/docker/volume"
)

// resource is one listed engine resource.
type resource struct {
	Ref
	Name   string
	Labels map[string]string
}

// kept reports whether r is kept: labelled so, or recorded by MarkKept (markers are
// those of the caller's cache directories; LabelMarkerDir names the creator's).
func (r resource) kept(markers map[Ref]bool) bool {
	if _, ok := r.Labels[engine.LabelKeep]; ok {
		return true
	}
	if markers[r.Ref] {
		return true
	}
	if dir, ok := r.Labels[LabelMarkerDir]; ok {
		return markedIn(dir, r.Ref)
	}
	return false
}

// listResources lists the containers (all states), networks and volumes matching
// the label filters, containers first.
func listResources(ctx context.Context, cli engine.API, labelFilters ...string) ([]resource, error) {
	f := filters.NewArgs()
	for _, l := range labelFilters {
		f.Add("label", l)
	}
	var out []resource
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, resource{Ref{Container, c.ID}, name, c.Labels})
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		out = append(out, resource{Ref{Network, n.ID}, n.Name, n.Labels})
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		out = append(out, resource{Ref{Volume, v.Name}, v.Name, v.Labels})
	}
	return out, nil
}

// removeParallel bounds concurrent removals so that the engine is not flooded.
const removeParallel = 8

// removeResources removes rs: all containers (forced, with anonymous volumes)
// concurrently, then the networks, then the volumes. A resource that is already gone
// is not an error.
func removeResources(ctx context.Context, cli engine.API, rs []resource) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	for _, kind := range []Kind{Container, Network, Volume} {
		sem := make(chan struct{}, removeParallel)
		var wg sync.WaitGroup
		for _, r := range rs {
			if r.Kind != kind {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := removeOne(ctx, cli, r.Ref, r.Name); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("remove %s %s: %w", r.Kind, r.Name, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

// removeOne removes r; name is its name, used for networks: podman 4.3 removes a
// network named by its id even with containers attached.
func removeOne(ctx context.Context, cli engine.API, r Ref, name string) error {
	var err error
	switch r.Kind {
	case Container:
		err = cli.ContainerRemove(ctx, r.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress") {
			// Someone else (a test's cleanup, another process's sweep) is removing it:
			// wait until it is gone, for the networks and volumes come next.
			err = waitRemoved(ctx, cli, r.ID)
		}
	case Network:
		if name == "" {
			name = r.ID
		}
		err = cli.NetworkRemove(ctx, name)
	case Volume:
		err = cli.VolumeRemove(ctx, r.ID, true)
	}
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// waitRemoved waits until container id no longer exists.
func waitRemoved(ctx context.Context, cli engine.API, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionRemoved)
	select {
	case <-waitC:
		return nil
	case err := <-errC:
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("wait for removal by another: %w", err)
	}
}

// removeSession removes every resource of session that is not kept and returns what
// it removed.
func removeSession(ctx context.Context, e *engine.Engine, session string) ([]Ref, error) {
	rs, err := listResources(ctx, e.Client, engine.LabelSession+"="+session)
	if err != nil {
		return nil, err
	}
	ms, err := readMarkers()
	if err != nil {
		// Without the markers a kept resource cannot be told apart: remove nothing.
		return nil, err
	}
	markers := ms.set()
	var doomed []resource
	var refs []Ref
	for _, r := range rs {
		if !r.kept(markers) {
			doomed = append(doomed, r)
			refs = append(refs, r.Ref)
		}
	}
	return refs, removeResources(ctx, e.Client, doomed)
}
