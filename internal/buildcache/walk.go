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

// comparePaths orders slash-separated relative paths in tree order: as
// strings, but with '/' before every other byte, so that a directory's
// entries follow it directly ("a", "a/z", "a-b"; plain string order would
// put "a-b" before "a/z"). This is the order of a depth-first walk that
// lists each directory's names sorted, so the walk needs no global sort.
func comparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '/' {
			return -1
		}
		if y == '/' {
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// dirNode is a directory of the walk: its listing, once done, in name
// order.
type dirNode struct {
	abs, rel string
	info     patternmatcher.MatchInfo // the directory's own match result
	items    []walkItem
}

// walkItem is one name of a listed directory: the entry sent for it (nil
// if it is excluded), and the directory walked below it (nil if it is not
// a directory or is excluded with nothing to re-include).
type walkItem struct {
	entry *entry
	sub   *dirNode
}

// walkContext returns every file and directory under root that is sent to
// the engine, in tree order (see comparePaths), with their stat data (and
// symlink targets). Sockets, which cannot be archived, are left out. The
// decisions are those of moby/go-archive's Tarballer (TarWithOptions with
// ExcludePatterns): each path is matched with MatchesUsingParentResults
// given its parent directory's result; an excluded directory is not sent,
// and is descended into only if an exception pattern (!dir/...) may
// re-include something below it. So the result is exactly the set of
// entries ContextTar archives. Unlike the Tarballer, which logs and skips
// what it cannot read, a walk error is returned.
//
// Directories are listed in parallel, each sorted by its worker, and each
// entry is stat'ed relative to its open directory, which saves resolving
// the full path for every file: a warm key costs about one syscall per
// path. The listings are joined depth first at the end, which gives tree
// order without sorting all paths.
func walkContext(ctx context.Context, root string, excludes []string) ([]*entry, error) {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", ignoreFileName, err)
	}
	top := &dirNode{abs: root}
	w := &walker{ctx: ctx, excludes: excludes, queue: []*dirNode{top}}
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
	out := make([]*entry, 0, w.count)
	var flatten func(d *dirNode)
	flatten = func(d *dirNode) {
		for _, it := range d.items {
			if it.entry != nil {
				out = append(out, it.entry)
			}
			if it.sub != nil {
				flatten(it.sub)
			}
		}
	}
	flatten(top)
	return out, nil
}

// walker is the shared state of a parallel walk.
type walker struct {
	ctx           context.Context
	excludes      []string
	hasExclusions bool
	exclusions    []string // the exception patterns, without "!"

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*dirNode
	active int // directories being listed
	count  int // entries sent
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
	var (
		subdirs []*dirNode
		n       int
		scratch workerScratch
	)
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
		d := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.active++
		w.mu.Unlock()

		n, subdirs, err = w.list(pm, d, subdirs[:0], &scratch)

		w.mu.Lock()
		w.active--
		if err != nil && w.err == nil {
			w.err = err
		}
		w.count += n
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

// list reads the directory d into d.items, in name order, and appends the
// subdirectories to walk to subdirs. It returns the number of entries
// sent.
func (w *walker) list(pm *patternmatcher.PatternMatcher, d *dirNode, subdirs []*dirNode, sc *workerScratch) (int, []*dirNode, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, subdirs, err
	}
	// List names (no per-entry stat) and lstat only what is sent,
	// relative to the open directory: no lookup of the full path.
	f, err := os.Open(d.abs)
	if err != nil {
		return 0, subdirs, fmt.Errorf("walk build context: %w", err)
	}
	defer f.Close()
	names, err := dirNames(f, &sc.dir)
	if err != nil {
		return 0, subdirs, fmt.Errorf("walk build context: read dir %s: %w", d.abs, err)
	}
	slices.Sort(names)
	lstat := dirStater(f, d.abs)
	prefix := d.abs + string(filepath.Separator)
	if strings.HasSuffix(d.abs, string(filepath.Separator)) {
		prefix = d.abs // the file system root
	}
	// The relative paths of all names, in one string: one allocation per
	// directory rather than one per name.
	var rels strings.Builder
	size := 0
	for _, name := range names {
		size += len(d.rel) + 1 + len(name)
	}
	rels.Grow(size)
	ends := sc.relEnds[:0]
	for _, name := range names {
		if d.rel != "" {
			rels.WriteString(d.rel)
			rels.WriteByte(filepath.Separator)
		}
		rels.WriteString(name)
		ends = append(ends, rels.Len())
	}
	sc.relEnds = ends
	all := rels.String()

	var (
		slab  = make([]entry, 0, len(names)) // never grows: pointers stay valid
		items = make([]walkItem, 0, len(names))
		start = 0
	)
	for i, name := range names {
		rel := all[start:ends[i]]
		start = ends[i]
		skip, info, err := pm.MatchesUsingParentResults(rel, d.info)
		if err != nil {
			return 0, subdirs, fmt.Errorf("match %s against %s: %w", rel, ignoreFileName, err)
		}
		if skip && !w.mayReinclude(rel) {
			continue
		}
		st, err := lstat(name)
		if err != nil {
			return 0, subdirs, fmt.Errorf("walk build context: %w", err)
		}
		var it walkItem
		mode := st.Mode()
		if mode.IsDir() {
			it.sub = &dirNode{abs: prefix + name, rel: rel, info: info}
			subdirs = append(subdirs, it.sub)
		}
		if !skip {
			// An excluded directory that an exception may reach into is
			// walked, but its own entry is not sent.
			e := entry{rel: filepath.ToSlash(rel), mode: mode}
			send := true
			switch {
			case mode.IsDir():
			case mode.IsRegular():
				e.size, e.st = st.size, st.fileStat
			case mode&fs.ModeSymlink != 0:
				if e.link, err = os.Readlink(prefix + name); err != nil {
					return 0, subdirs, fmt.Errorf("walk build context: %w", err)
				}
			case mode&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice) != 0:
				e.rdev = st.rdev
			default:
				// Sockets and other irregular files cannot be archived;
				// the tar writer skips them too.
				send = false
			}
			if send {
				slab = append(slab, e)
				it.entry = &slab[len(slab)-1]
			}
		}
		if it.entry != nil || it.sub != nil {
			items = append(items, it)
		}
	}
	d.items = items
	return len(slab), subdirs, nil
}

// workerScratch is memory a walk worker reuses from one directory to the
// next.
type workerScratch struct {
	dir     dirScratch
	relEnds []int
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
