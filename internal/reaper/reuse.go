package reaper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
)

// Reused containers (containers.Spec.Reuse) outlive their test process. They carry
// LabelKeep, so that no test cleanup, watchdog or dead-session sweep removes them, and
// LabelReuse with the hash of their configuration. Per hash, under
// CacheDir()/reuse/, three files coordinate processes:
//
//   - <hash>.lock, held exclusively while a process looks for, creates or removes the
//     container: two processes racing get one container;
//   - <hash>.use, held shared by every process using the container, for the life of
//     the process: the expiry sweep removes only a container nobody holds;
//   - <hash>.used, rewritten at each hand-out: its content is the container id, once
//     ready; its modification time is the last use, from which the idle time counts.
const (
	// LabelReuse holds a reused container's configuration hash.
	LabelReuse = engine.LabelPrefix + "reuse"
	// EnvReuse set to "off" makes Reuse a no-op (every container is the test's own).
	EnvReuse = "CONTAINERTEST_REUSE"
	// EnvReuseTTL is how long a reused container may stay unused before a sweep
	// removes it, a Go duration (default DefaultReuseTTL).
	EnvReuseTTL = "CONTAINERTEST_REUSE_TTL"
	// DefaultReuseTTL is the idle time after which a reused container expires.
	DefaultReuseTTL = time.Hour
)

// ReuseEnabled reports whether CONTAINERTEST_REUSE allows reuse ("", "on") or not
// ("off"); another value is an error.
func ReuseEnabled() (bool, error) {
	switch v := strings.TrimSpace(os.Getenv(EnvReuse)); v {
	case "", "on":
		return true, nil
	case "off":
		return false, nil
	default:
		return false, fmt.Errorf("parse %s=%q: want \"off\" or \"on\"", EnvReuse, v)
	}
}

// ReuseTTL returns the idle time from CONTAINERTEST_REUSE_TTL, or DefaultReuseTTL.
func ReuseTTL() (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv(EnvReuseTTL))
	if v == "" {
		return DefaultReuseTTL, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("parse %s=%q: want a positive Go duration such as \"30m\"", EnvReuseTTL, v)
	}
	return d, nil
}

// reuseFile returns CacheDir()/reuse/<hash><ext>, creating the directory.
func reuseFile(hash, ext string) (string, error) {
	if hash == "" || strings.ContainsAny(hash, `/\.`) {
		return "", fmt.Errorf("invalid reuse hash %q", hash)
	}
	d, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(d, "reuse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("reuse dir: %w", err)
	}
	return filepath.Join(dir, hash+ext), nil
}

// LockReuse takes the exclusive lock of hash, waiting until it is free or ctx is done.
func LockReuse(ctx context.Context, hash string) (unlock func(), err error) {
	p, err := reuseFile(hash, ".lock")
	if err != nil {
		return nil, err
	}
	unlock, err = lockFile(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("lock reused container %s: %w", hash, err)
	}
	return unlock, nil
}

// lockFile takes the exclusive file lock (flock) of path, waiting until it is free or
// ctx is done. The operating system releases it when the process dies.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	fl := flock.New(path)
	ok, err := fl.TryLockContext(ctx, 10*time.Millisecond)
	if err != nil || !ok {
		_ = fl.Close()
		if err == nil {
			err = errors.New("lock not acquired")
		}
		return nil, err
	}
	return func() { _ = fl.Close() }, nil
}

// useLocks are the shared use locks this process holds, one per hash, until it exits.
var useLocks = map[string]*flock.Flock{}

// MarkInUse records that this process uses the container of hash (ready, with id) from
// now until it exits: the last-use time is now, and the expiry sweep of any process
// leaves the container alone while this process lives. Call it under LockReuse.
func MarkInUse(hash, id string) error {
	used, err := reuseFile(hash, ".used")
	if err != nil {
		return err
	}
	if err := os.WriteFile(used, []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("record use of reused container %s: %w", hash, err)
	}
	readyMu.Lock()
	defer readyMu.Unlock()
	if useLocks[hash] != nil {
		return nil
	}
	p, err := reuseFile(hash, ".use")
	if err != nil {
		return err
	}
	fl := flock.New(p)
	ok, err := fl.TryRLock()
	if err != nil || !ok {
		_ = fl.Close()
		if err == nil {
			err = errors.New("held exclusively")
		}
		return fmt.Errorf("mark reused container %s in use: %w", hash, err)
	}
	useLocks[hash] = fl
	return nil
}

// ReadyID returns the id of the container of hash recorded as ready by MarkInUse, or "".
func ReadyID(hash string) string {
	used, err := reuseFile(hash, ".used")
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(used)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ForgetReuse deletes the ready record of hash (its container is gone). Call it under
// LockReuse.
func ForgetReuse(hash string) {
	if used, err := reuseFile(hash, ".used"); err == nil {
		os.Remove(used)
	}
}

// listReused lists the reused containers on the engine.
func listReused(ctx context.Context, e *engine.Engine) ([]container.Summary, error) {
	cs, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelReuse))})
	if err != nil {
		return nil, fmt.Errorf("list reused containers: %w", err)
	}
	return cs, nil
}

// SweepExpiredReused removes the reused containers unused for longer than ReuseTTL
// and held by no live process, and returns their ids. A container whose lock another
// process holds is left for a later sweep.
func SweepExpiredReused(ctx context.Context, e *engine.Engine) ([]string, error) {
	ttl, err := ReuseTTL()
	if err != nil {
		return nil, fmt.Errorf("sweep reused containers: %w", err)
	}
	cs, err := listReused(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("sweep reused containers: %w", err)
	}
	var (
		removed []string
		errs    []error
	)
	for _, c := range cs {
		hash := c.Labels[LabelReuse]
		last := time.Unix(c.Created, 0)
		if used, err := reuseFile(hash, ".used"); err == nil {
			if fi, err := os.Stat(used); err == nil && ReadyID(hash) == c.ID {
				last = fi.ModTime()
			}
		}
		if time.Since(last) <= ttl {
			continue
		}
		ok, err := removeIfIdle(ctx, e, hash, c.ID)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, c.ID)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep reused containers: %w", err)
	}
	return removed, nil
}

// removeIfIdle removes the container id of hash when no process holds its locks.
func removeIfIdle(ctx context.Context, e *engine.Engine, hash, id string) (bool, error) {
	lp, err := reuseFile(hash, ".lock")
	if err != nil {
		return false, err
	}
	up, err := reuseFile(hash, ".use")
	if err != nil {
		return false, err
	}
	lock, use := flock.New(lp), flock.New(up)
	defer lock.Close()
	defer use.Close()
	if ok, err := lock.TryLock(); err != nil || !ok {
		return false, err
	}
	if ok, err := use.TryLock(); err != nil || !ok {
		return false, err
	}
	if err := removeOne(ctx, e.Client, Ref{Container, id}, ""); err != nil {
		return false, fmt.Errorf("remove reused container %s: %w", id, err)
	}
	if ReadyID(hash) == id {
		ForgetReuse(hash)
	}
	return true, nil
}

// RemoveReused removes every reused container on the engine, whoever created it and
// whether in use or not, and returns their ids.
func RemoveReused(ctx context.Context) ([]string, error) {
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("remove reused containers: %w", err)
	}
	cs, err := listReused(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("remove reused containers: %w", err)
	}
	var (
		ids  []string
		errs []error
	)
	for _, c := range cs {
		if err := removeOne(ctx, e.Client, Ref{Container, c.ID}, ""); err != nil {
			errs = append(errs, fmt.Errorf("remove reused container %s: %w", c.ID, err))
			continue
		}
		ids = append(ids, c.ID)
		if h := c.Labels[LabelReuse]; ReadyID(h) == c.ID {
			ForgetReuse(h)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ids, fmt.Errorf("remove reused containers: %w", err)
	}
	return ids, nil
}
