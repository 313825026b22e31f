package reaper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containertest/containertest/internal/engine"
)

// sweepTimeout bounds the background sweep at session start.
const sweepTimeout = 2 * time.Minute

// The outcome of this process's background sweep, for tests: sweepDone is closed
// when it has finished.
var (
	sweepDone    = make(chan struct{})
	sweepRemoved []Ref
	sweepErr     error
)

// SweepInBackground starts the process's one background sweep (what dead processes
// left, and expired reused containers) without a watchdog, for a process that uses
// only what others made. It does nothing once a sweep has started, or with
// CONTAINERTEST_REAPER=off.
func SweepInBackground(e *engine.Engine) {
	if off, err := reaperOff(); err != nil || off {
		return
	}
	sweepOnce.Do(func() { go backgroundSweep(e) })
}

func backgroundSweep(e *engine.Engine) {
	defer close(sweepDone)
	ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
	defer cancel()
	sweepRemoved, sweepErr = Sweep(ctx, e)
	_, _ = SweepExpiredReused(ctx, e)
}

// Sweep removes the resources that processes of this host left behind: those whose
// owner process is provably gone (see OwnerGone) and that are not kept. It returns
// what it decided to remove (a resource someone else removed first counts) and the
// removal errors. It also deletes kept markers whose resource no longer exists.
// Ensure runs it once per process, in the background.
func Sweep(ctx context.Context, e *engine.Engine) ([]Ref, error) {
	unlock, err := lockSweep(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	defer unlock()

	// Read the markers before listing: a marker read now names a resource created
	// before now, so a resource missing from the listing below is really gone.
	markers, err := readMarkers()
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	rs, err := listResources(ctx, e.Client, engine.LabelManaged, engine.LabelHost+"="+engine.HostName())
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	present := make(map[Ref]bool, len(rs))
	kept := markers.set()
	var doomed []resource
	var refs []Ref
	for _, r := range rs {
		present[r.Ref] = true
		if r.kept(kept) || !OwnerGone(r.Labels) {
			continue
		}
		doomed = append(doomed, r)
		refs = append(refs, r.Ref)
	}
	var stale []Ref
	for _, m := range markers {
		if m.Host == engine.HostName() && m.Engine == e.Addr && !present[m.Ref] {
			stale = append(stale, m.Ref)
		}
	}
	unmark(stale)
	removeOldLogs()
	if err := removeResources(ctx, e.Client, doomed); err != nil {
		return refs, fmt.Errorf("sweep: %w", err)
	}
	return refs, nil
}

// lockSweep takes the host-wide lock of sweeps of e, waiting until it is free or ctx
// is done. The packages of one go test ./... start their sweeps together: one at a
// time, each after the first finds what the others left, instead of all racing to
// remove the same resources.
func lockSweep(ctx context.Context, e *engine.Engine) (unlock func(), err error) {
	dir, err := reaperDir("")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(e.Addr))
	unlock, err = lockFile(ctx, filepath.Join(dir, "sweep-"+hex.EncodeToString(sum[:8])+".lock"))
	if err != nil {
		return nil, fmt.Errorf("lock sweeps of %s: %w", e.Addr, err)
	}
	return unlock, nil
}

// OwnerGone reports whether the process that created a resource with these labels is
// provably gone: the resource was created on this host (and, when recorded, in this
// boot and pid namespace), and no process with the recorded pid exists, or the process
// with that pid started at another time (the pid was reused) or is a zombie. When
// anything is unknown it returns false: a resource is never judged from a guess.
func OwnerGone(labels map[string]string) bool {
	if labels[engine.LabelHost] != engine.HostName() {
		return false
	}
	if ns, ok := labels[LabelProcNS]; ok && ns != procNS() {
		return false
	}
	pid, err := strconv.Atoi(labels[engine.LabelPID])
	if err != nil || pid <= 0 {
		return false
	}
	return processGone(pid, labels[engine.LabelStart])
}

// logMaxAge is how long a watchdog's log (kept only when its cleanup failed) stays.
const logMaxAge = 7 * 24 * time.Hour

// removeOldLogs deletes watchdog logs older than logMaxAge.
func removeOldLogs() {
	d, err := CacheDir()
	if err != nil {
		return
	}
	dir := filepath.Join(d, "reaper", "log")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > logMaxAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
