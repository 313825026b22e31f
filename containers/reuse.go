package containers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/eventhub"
	"github.com/containertest/containertest/internal/reaper"
)

// ErrNotReusable is wrapped by the error of a reused spec that cannot be shared safely.
var ErrNotReusable = errors.New("spec cannot be reused")

// Reuse keeps the container alive after the test process ends and hands it to the next
// test, in this process or a later one, that starts a spec with the same complete
// configuration: the image id (not its tag: a rebuilt or re-pulled image makes a new
// container), command, entrypoint, environment, ports, mounts, networks, limits,
// labels, health check, the content of the files copied in, and the Modify changes. A
// cross-process lock makes processes that race for one configuration share one
// container.
//
// A reused container is shared: every test that asks gets the same one, with whatever
// earlier tests left in it, so use it for servers whose state tests isolate themselves
// (a database per test, see the PostgreSQL example), not for state a test must find
// fresh. No test cleanup, watchdog or dead-session sweep removes it; a sweep at the
// start of a later test process removes it once nobody has used it for
// CONTAINERTEST_REUSE_TTL (default 1 h) and no live process uses it, and RemoveReused
// removes every reused container at once. Terminate removes it too, for every user.
// Its status (Container.Status) is the engine's at hand-out; later changes are seen
// only by the process that created it.
//
// Specs that would share something of one test are refused, with the reason: Named
// (the name is the user's, and a reused container gets one from its hash), networks
// other than the engine's predefined ones and named volumes (they belong to one test
// and are removed with it). CONTAINERTEST_REUSE=off turns Reuse off: each test then gets
// a container of its own, as without Reuse (CI should set it).
func (s Spec) Reuse() Spec {
	s.reuse = true
	return s
}

// RemoveReused removes every reused container on the engine, in use or not, created
// by this process or another, and returns how many it removed.
func RemoveReused(ctx context.Context) (int, error) {
	ids, err := reaper.RemoveReused(ctx)
	return len(ids), err
}

// reuseRefusal returns why s cannot be reused, or nil.
func (s Spec) reuseRefusal() error {
	if s.name != "" {
		return fmt.Errorf("%w: Named(%q): a reused container is named after its configuration; reach it by its mapped ports", ErrNotReusable, s.name)
	}
	for _, na := range s.networks {
		if !isDefaultNetwork(na.net.Name()) {
			return fmt.Errorf("%w: network %s belongs to one test and goes with it; a reused container can only be on the bridge, host or none network", ErrNotReusable, na.net.Name())
		}
	}
	for _, m := range s.mounts {
		if m.kind == mountVolume {
			return fmt.Errorf("%w: volume %s belongs to one test and goes with it; use a tmpfs or a bind mount", ErrNotReusable, m.vol.Name())
		}
	}
	if s.logTo != nil || len(s.logConsumers) > 0 {
		return fmt.Errorf("%w: LogTo or LogConsumer: a reused container's log spans every test that used it and outlives this one; read Logs or LogTail instead", ErrNotReusable)
	}
	return nil
}

// release ends this process's use of a reused container when its test ends: it no
// longer follows the container's events (the last such registration closes the
// stream), and the container stays for the next test or process.
func (c *Container) release() {
	c.stopHealth(false)
	eventhub.Default.Unsubscribe(c.id)
}

// startReused is Start for a spec with Reuse. ok is false when reuse is turned off:
// the caller then starts a container of the test's own.
func (s Spec) startReused(ctx context.Context, t testing.TB) (c *Container, ok bool, err error) {
	on, err := reaper.ReuseEnabled()
	if err != nil {
		return nil, true, err
	}
	if !on {
		return nil, false, nil
	}
	if _, err := reaper.ReuseTTL(); err != nil {
		return nil, true, err
	}
	// A reuse may start no watchdog, which checks these otherwise.
	if _, err := reaper.ParseKeepMode(os.Getenv(reaper.EnvKeep)); err != nil {
		return nil, true, err
	}
	if err := s.reuseRefusal(); err != nil {
		return nil, true, err
	}
	eng, err := engine.Get(ctx)
	if err != nil {
		return nil, true, err
	}
	image := s.image
	if s.build != nil {
		if image, err = s.build.image(ctx, eng, t); err != nil {
			return nil, true, err
		}
	}
	imageID, err := s.resolveImageID(ctx, eng, image)
	if err != nil {
		return nil, true, err
	}
	cfg, hc, nc, err := s.engineConfig(eng, imageID, maps.Clone(s.labels))
	if err != nil {
		return nil, true, err
	}
	// The hash covers the configuration as created: appended arguments, static
	// addresses and health defaults included.
	if err := s.runPrepare(ctx, eng, cfg, hc, nc); err != nil {
		return nil, true, err
	}
	s.applyHealthDefaults(ctx, eng, cfg)
	hash, err := s.reuseHash(cfg, hc, nc)
	if err != nil {
		return nil, true, err
	}

	unlock, err := reaper.LockReuse(ctx, hash)
	if err != nil {
		return nil, true, err
	}
	defer unlock()

	name := "ct-reuse-" + hash[:16]
	if c, err := s.findReused(ctx, eng, hash, name, image); err != nil || c != nil {
		if c != nil {
			// This process made nothing the watchdog would remove, so it starts
			// none (waiting for one is most of a reuse's cost); the sweep of what
			// dead processes left and of idle reused containers still runs.
			reaper.SweepInBackground(eng)
			if t != nil {
				c.t = t
				t.Cleanup(c.release)
			}
		}
		return c, true, err
	}

	// As in launch: the create runs while a new process's watchdog gets ready, and
	// the container is handed out once it is.
	_, labels, settle, err := reaper.BeginOverlapped(ctx, nil, "")
	if err != nil {
		return nil, true, err
	}
	defer func() {
		if serr := settle(ctx); serr != nil && err == nil {
			// The container is kept for reuse either way; only this handle goes (a
			// test's cleanup releases it).
			if c != nil && t == nil {
				c.release()
			}
			c, err = nil, serr
		}
	}()

	// Create it. It carries the session labels (so this process's event stream sees
	// it while it starts), LabelKeep (so nobody's cleanup removes it) and the hash.
	maps.Copy(labels, cfg.Labels)
	labels[engine.LabelKeep] = "reuse"
	labels[reaper.LabelReuse] = hash
	cfg.Labels = labels
	id, err := createContainer(ctx, eng, PullNever, name, cfg, hc, nc)
	if err != nil {
		return nil, true, err
	}
	c = newContainer(eng, s, id, name, image)
	c.t = t
	fail := func(err error) (*Container, bool, error) {
		rctx, cancel := contextWithoutCancelTimeout(ctx)
		defer cancel()
		if rerr := c.remove(rctx); rerr != nil {
			err = fmt.Errorf("%w (and removing the container: %w)", err, rerr)
		}
		return nil, true, err
	}
	if err := c.copyInitial(ctx); err != nil {
		return fail(err)
	}
	if err := eventhub.Default.Subscribe(ctx, eng, id, c.applyEvent); err != nil {
		return fail(err)
	}
	if err := c.startOnEngine(ctx); err != nil {
		return fail(fmt.Errorf("start container %s: %w", name, err))
	}
	if err := c.afterStart(ctx); err != nil {
		return fail(err)
	}
	if err := c.waitReady(ctx); err != nil {
		return fail(err)
	}
	if err := reaper.MarkInUse(hash, id); err != nil {
		return fail(err)
	}
	if t != nil {
		t.Cleanup(c.release)
	} else {
		// Run: nothing ends this process's use of it but the process, and a reused
		// container is not this process's to follow. Its Status is not updated from
		// here on, as for a container found by a later process.
		c.release()
	}
	return c, true, nil
}

// findReused returns the ready container of hash, or nil when there is none (a
// container that is not running or was never ready is removed). Call it under the
// lock.
func (s Spec) findReused(ctx context.Context, eng *engine.Engine, hash, name, image string) (*Container, error) {
	list, err := eng.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", reaper.LabelReuse+"="+hash))})
	if err != nil {
		return nil, fmt.Errorf("look for reused container %s: %w", name, err)
	}
	ready := reaper.ReadyID(hash)
	var found *Container
	for _, cs := range list {
		if found == nil && cs.ID == ready && cs.State == "running" {
			c := newContainer(eng, s, cs.ID, name, image)
			if err := c.afterStart(ctx); err != nil {
				return nil, err
			}
			if err := reaper.MarkInUse(hash, cs.ID); err != nil {
				return nil, err
			}
			found = c
			continue
		}
		// Stopped, or left unready by a process that died while starting it.
		err := eng.Client.ContainerRemove(ctx, cs.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("remove stale reused container %s: %w", name, err)
		}
	}
	if found == nil && ready != "" {
		reaper.ForgetReuse(hash)
	}
	return found, nil
}

// resolveImageID returns the id of image, pulling it first when missing (unless the
// policy is PullNever) or when the policy is PullAlways.
func (s Spec) resolveImageID(ctx context.Context, eng *engine.Engine, image string) (string, error) {
	info, err := localImage(ctx, eng, image, s.pull, "")
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

// reuseHash hashes the complete resolved configuration: the engine's container,
// host and network configuration (image id included, framework labels not yet
// added), and the files and directories copied in.
func (s Spec) reuseHash(cfg *container.Config, hc *container.HostConfig, nc *dnetwork.NetworkingConfig) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range []any{"containertest-reuse-1", cfg, hc, nc, s.pull} {
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("hash reused configuration: %w", err)
		}
	}
	for _, f := range s.files {
		sum := sha256.Sum256(f.content)
		fmt.Fprintf(h, "file %q %o %x\n", f.path, f.mode, sum)
	}
	for _, d := range s.dirs {
		fmt.Fprintf(h, "dir %q\n", d.target)
		if err := hashDir(h, d.hostDir); err != nil {
			return "", fmt.Errorf("hash reused configuration: copy dir %s: %w", d.hostDir, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashDir writes every entry of dir (path, mode, content) to w in a fixed order.
func hashDir(w io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%q %v %d\n", filepath.ToSlash(rel), fi.Mode(), fi.Size())
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "-> %q\n", target)
		}
		return nil
	})
}

// contextWithoutCancelTimeout is a context for removing what a failed start made.
func contextWithoutCancelTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), defaultRemoveTimeout)
}

// defaultRemoveTimeout bounds the removal of a container whose start failed.
const defaultRemoveTimeout = 30 * time.Second
