// Package volume creates named volumes that outlive a container and can be shared.
//
// A volume made by New belongs to a test: it carries the framework's labels, has a
// unique name, and is removed when the test ends, after the test's containers. Data
// written to it by one container is there for the next one, so a database can be
// stopped, removed and started again on the same data, or one container can write
// what another reads. Create is the same without a testing.TB; the caller then owns
// Remove.
//
//	func TestRestartKeepsData(t *testing.T) {
//		data := volume.New(t)
//		db := containers.Image("busybox:latest").Cmd("sleep", "60").Mount(data, "/data")
//		first := db.Start(t)
//		first.Exec(ctx, "sh", "-c", "echo hello > /data/greeting")
//		first.Terminate(ctx)
//		second := db.Start(t) // sees /data/greeting
//		_ = second
//	}
package volume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/internal/scope"
)

// Errors that callers can test for with errors.Is.
var (
	// ErrInUse is wrapped by Remove when containers, running or not, still use the
	// volume; the message names them.
	ErrInUse = errors.New("volume in use")
	// ErrRemoved is wrapped by operations on a volume that was removed, by Remove or by
	// someone else.
	ErrRemoved = errors.New("volume removed")
	// ErrInvalidOption is wrapped when an Option is malformed.
	ErrInvalidOption = errors.New("invalid volume option")
	// ErrDockerUnavailable is wrapped when no Docker engine answers.
	ErrDockerUnavailable = engine.ErrUnavailable
)

// A Volume is a named volume created by this package. Its methods are safe for
// concurrent use.
type Volume struct {
	name string

	mu      sync.Mutex
	removed bool
}

// Name is the volume's unique name.
func (v *Volume) Name() string { return v.name }

// String returns the volume's name.
func (v *Volume) String() string { return v.name }

// Removed reports whether Remove has removed the volume. Note that the engine creates
// a missing named volume, without the framework's labels, when a container mounts it:
// code that mounts a volume should refuse a removed one.
func (v *Volume) Removed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.removed
}

// Info describes a volume as the engine sees it.
type Info struct {
	Name   string
	Driver string
	// Mountpoint is where the volume lives on the engine's machine.
	Mountpoint string
	Labels     map[string]string
	Options    map[string]string
	CreatedAt  time.Time
}

// New creates a volume for the duration of t and removes it when t ends, after the
// test's containers. It fails the test if the volume cannot be created, and skips it
// when no Docker engine answers unless CONTAINERTEST_REQUIRE_DOCKER=1.
func New(t testing.TB, opts ...Option) *Volume {
	t.Helper()
	v, err := create(t.Context(), t.Name(), opts)
	if err != nil {
		engine.FailOrSkip(t, "volume", err)
	}
	scope.Add(t, scope.Resource{
		Kind:   scope.Volume,
		Name:   "volume " + v.name,
		ID:     v.name,
		Remove: v.Remove,
	})
	return v
}

// Create creates a volume that the caller removes with Remove.
func Create(ctx context.Context, opts ...Option) (*Volume, error) {
	return create(ctx, "", opts)
}

// seq numbers the volumes of this process.
var seq atomic.Int64

func nextName() string {
	return fmt.Sprintf("ct-%s-vol-%d", engine.SessionID(), seq.Add(1))
}

func create(ctx context.Context, test string, opts []Option) (*Volume, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.err != nil {
		return nil, fmt.Errorf("create volume: %w", c.err)
	}
	e, labels, err := reaper.Begin(ctx, c.labels, test)
	if err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	name := nextName()
	res, err := e.Client.VolumeCreate(ctx, dvolume.CreateOptions{
		Name:       name,
		Driver:     c.driver,
		DriverOpts: c.driverOpts,
		Labels:     labels,
	})
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return &Volume{name: res.Name}, nil
}

// removeRetry bounds how long Remove waits for a container that the engine is still
// removing before reporting ErrInUse.
const removeRetry = 3 * time.Second

// Remove removes the volume and its data. Removing a removed volume, or one already
// gone from the engine, is not an error. While a container (running or stopped) uses
// the volume it fails with an error that wraps ErrInUse and names the containers.
func (v *Volume) Remove(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.removed {
		return nil
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", v.name, err)
	}
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		err := e.Client.VolumeRemove(ctx, v.name, false)
		if err == nil || errdefs.IsNotFound(err) {
			v.removed = true
			return nil
		}
		if !errdefs.IsConflict(err) && !strings.Contains(err.Error(), "in use") {
			return fmt.Errorf("remove volume %s: %w", v.name, err)
		}
		if names := users(ctx, e.Client, v.name); len(names) > 0 {
			return fmt.Errorf("remove volume %s: %w by containers %s", v.name, ErrInUse, strings.Join(names, ", "))
		}
		if time.Since(start) > removeRetry {
			return fmt.Errorf("remove volume %s: %w: %w", v.name, ErrInUse, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove volume %s: %w", v.name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// users names the containers, running or not, that mount volume name.
func users(ctx context.Context, cli engine.API, name string) []string {
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("volume", name)),
	})
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range list {
		if len(c.Names) > 0 {
			names = append(names, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	slices.Sort(names)
	return names
}

// Inspect returns what the engine knows about the volume. For a removed volume it
// returns an error wrapping ErrRemoved.
func (v *Volume) Inspect(ctx context.Context) (Info, error) {
	if v.Removed() {
		return Info{}, fmt.Errorf("inspect volume %s: %w", v.name, ErrRemoved)
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("inspect volume %s: %w", v.name, err)
	}
	res, err := e.Client.VolumeInspect(ctx, v.name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return Info{}, fmt.Errorf("inspect volume %s: %w", v.name, ErrRemoved)
		}
		return Info{}, fmt.Errorf("inspect volume %s: %w", v.name, err)
	}
	info := Info{
		Name:       res.Name,
		Driver:     res.Driver,
		Mountpoint: res.Mountpoint,
		Labels:     res.Labels,
		Options:    res.Options,
	}
	if t, err := time.Parse(time.RFC3339, res.CreatedAt); err == nil {
		info.CreatedAt = t
	}
	return info, nil
}
