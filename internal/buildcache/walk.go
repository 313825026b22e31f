package buildcache

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
)

// dirJob is a directory still to be listed.
type dirJob struct {
	abs, rel string
	info     patternmatcher.MatchInfo // the directory's own match result
}

// walkContext returns every file and directory under root that is sent to
// the engine, sorted by their slash-separated relative path, with their
// stat data (and symlink targets). Sockets, which cannot be archived, are
// left out. The decisions are those of
// moby/go-archive's Tarballer (TarWithOptions with ExcludePatterns):
// each path is matched with MatchesUsingParentResults given its parent
// directory's result; an excluded directory is not sent, and is descended
// into only if an exception pattern (!dir/...) may re-include something
// below it. So the result is exactly the set of entries ContextTar
// archives. Unlike the Tarballer, which logs and skips what it cannot
// read, a walk error is returned.
//
// Directories are listed in parallel, and each entry is stat'ed relative
// to its open directory, which saves resolving the full path for every
// file: a warm key costs about one syscall per path.
func walkContext(ctx context.Context, root string, excludes []string) ([]*entry, error) {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", ignoreFileName, err)
	}
	w := &walker{ctx: ctx, excludes: excludes, queue: []dirJob{{abs: root}}}
	w.hasExclusions = pm.Exclusions()
	for _, p := range pm.Patterns() {
		if p.Exclusion() {
			w.exclusions = append(w.exclusions, p.String())
		}
	}
	w.cond = sync.NewCond(&w.mu)
	var wg sync.WaitGroup
	for range walkWorkers() {
		wg.Go(w.work)
	}
	wg.Wait()
	if w.err != nil {
		return nil, w.err
	}
	slices.SortFunc(w.out, func(a, b *entry) int { return strings.Compare(a.rel, b.rel) })
	return w.out, nil
}

// walker is the shared state of a parallel walk.
type walker struct {
	ctx           context.Context
	excludes      []string
	hasExclusions bool
	exclusions    []string // the exception patterns, without "!"

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []dirJob
	active int // directories being listed
	out    []*entry
	err    error
}

// work lists directories from the queue until there are none left. Each
// worker has its own pattern matcher: matchers compile lazily and are not
// safe for concurrent use.
func (w *walker) work() {
	pm, err := patternmatcher.New(w.excludes)
	if err != nil {
		w.fail(err)
		return
	}
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && w.active > 0 && w.err == nil {
			w.cond.Wait()
		}
		if len(w.queue) == 0 || w.err != nil {
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		job := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.active++
		w.mu.Unlock()

		entries, subdirs, err := w.list(pm, job)

		w.mu.Lock()
		w.active--
		if err != nil && w.err == nil {
			w.err = err
		}
		w.out = append(w.out, entries...)
		w.queue = append(w.queue, subdirs...)
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// fail records err as the walk's error.
func (w *walker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	w.cond.Broadcast()
}

// list reads one directory: the entries to send and the subdirectories to
// walk.
func (w *walker) list(pm *patternmatcher.PatternMatcher, job dirJob) ([]*entry, []dirJob, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, nil, err
	}
	// List names (no per-entry stat) and lstat only what is sent,
	// relative to the open directory: no lookup of the full path.
	d, err := os.Open(job.abs)
	if err != nil {
		return nil, nil, fmt.Errorf("walk build context: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, nil, fmt.Errorf("walk build context: read dir %s: %w", job.abs, err)
	}
	lstat := dirStater(d, job.abs)
	prefix := job.abs + string(filepath.Separator)
	if strings.HasSuffix(job.abs, string(filepath.Separator)) {
		prefix = job.abs // the file system root
	}
	var (
		slab    = make([]entry, 0, len(names)) // never grows: pointers stay valid
		subdirs []dirJob
	)
	for _, name := range names {
		rel := name
		if job.rel != "" {
			rel = job.rel + string(filepath.Separator) + name
		}
		skip, info, err := pm.MatchesUsingParentResults(rel, job.info)
		if err != nil {
			return nil, nil, fmt.Errorf("match %s against %s: %w", rel, ignoreFileName, err)
		}
		if skip && !w.mayReinclude(rel) {
			continue
		}
		st, err := lstat(name)
		if err != nil {
			return nil, nil, fmt.Errorf("walk build context: %w", err)
		}
		mode := st.Mode()
		if mode.IsDir() {
			subdirs = append(subdirs, dirJob{abs: prefix + name, rel: rel, info: info})
		}
		if skip {
			// An excluded directory that an exception may reach into is
			// walked, but its own entry is not sent.
			continue
		}
		e := entry{rel: filepath.ToSlash(rel), mode: mode}
		switch {
		case mode.IsDir():
		case mode.IsRegular():
			e.size, e.st = st.size, st.fileStat
		case mode&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(prefix + name); err != nil {
				return nil, nil, fmt.Errorf("walk build context: %w", err)
			}
		case mode&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice) != 0:
			e.rdev = st.rdev
		default:
			// Sockets and other irregular files cannot be archived; the
			// tar writer skips them too.
			continue
		}
		slab = append(slab, e)
	}
	entries := make([]*entry, len(slab))
	for i := range slab {
		entries[i] = &slab[i]
	}
	return entries, subdirs, nil
}

// mayReinclude reports whether an exception pattern may re-include
// something below the excluded directory rel: the Tarballer's test.
func (w *walker) mayReinclude(rel string) bool {
	if !w.hasExclusions {
		return false
	}
	dirSlash := rel + string(filepath.Separator)
	for _, p := range w.exclusions {
		if strings.HasPrefix(p+string(filepath.Separator), dirSlash) {
			return true
		}
	}
	return false
}

// walkWorkers is the number of directories listed at once.
var walkWorkers = func() int { return max(runtime.GOMAXPROCS(0), 2) }
