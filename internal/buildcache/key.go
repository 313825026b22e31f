package buildcache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/containerd/platforms"
)

// keyVersion starts the hashed encoding; change it whenever the encoding or
// what it covers changes, so that old keys are never reused.
const keyVersion = "containertest/buildcache key v4\x00"

// Record tags of the key encoding.
const (
	tagDockerfile = 'D'
	tagDir        = 'd'
	tagFile       = 'f'
	tagSymlink    = 'l'
	tagSpecial    = 's' // named pipe or device
	tagArg        = 'a'
	tagTarget     = 't'
	tagPlatform   = 'p'
	tagBaseImage  = 'b'
	tagLabel      = 'L'
	tagBuilder    = 'B'
	tagSecret     = 'S'
	tagEnd        = 'E'
)

// hashSource is a file opened for hashing.
type hashSource interface {
	io.Reader
	// stat returns the file's stat data, as the walk reports them.
	stat() (fileStat, error)
	Close() error
}

// openForHash opens a file to hash it; tests replace it to count reads.
var openForHash = openHashSource

// entry is one context path that counts for the key.
type entry struct {
	rel  string // relative to the context, slash-separated
	mode fs.FileMode
	size int64
	st   fileStat
	link string // symlink target
	rdev uint64 // device number
	sum  [sha256.Size]byte
}

// osPath returns the path of e under root.
func (e *entry) osPath(root string) string {
	return filepath.Join(root, filepath.FromSlash(e.rel))
}

// Key returns the cache key of the build described by in: a hex sha256 over
// a versioned, length-prefixed encoding of the Dockerfile, every context
// path sent to the engine (path, type, mode, size, content hash, symlink
// target), the build args, the target, the platform, the image labels, the
// builder, the build secrets' identities (not their values) and the image id
// of every base image. baseImageIDs maps each of
// ReadDockerfile's BaseImages to the id the engine reports for it (or "" if
// the engine does not have it); other entries are ignored. memo may be nil;
// with a memo, files whose stat data are unchanged are not read. Cold files
// are hashed in parallel, bounded by GOMAXPROCS.
//
// Key is Prepare without the archive; a build must use Prepare, so that
// what it sends is what the key describes.
func Key(ctx context.Context, in Input, baseImageIDs map[string]string, memo *Memo) (string, error) {
	s, err := Prepare(ctx, in, baseImageIDs, memo)
	if err != nil {
		return "", err
	}
	return s.Key, nil
}

// Snapshot is the key of a build together with the state of the context it
// describes: the Dockerfile and ignore patterns as read, and every path with
// its type, mode, size and content hash.
type Snapshot struct {
	// Key is the cache key (see Key).
	Key string

	r       *resolved
	entries []*entry
}

// Prepare computes the key of the build described by in (see Key) and keeps
// what it covers, so that Snapshot.Context sends exactly those bytes.
func Prepare(ctx context.Context, in Input, baseImageIDs map[string]string, memo *Memo) (*Snapshot, error) {
	r, err := in.resolve()
	if err != nil {
		return nil, err
	}
	df, err := r.parse(in)
	if err != nil {
		return nil, err
	}
	refs := slices.Clone(df.BaseImages)
	sort.Strings(refs)
	for _, ref := range refs {
		if _, ok := baseImageIDs[ref]; !ok {
			return nil, fmt.Errorf("compute build key: %w %q (named in %s)", ErrMissingBaseImage, ref, r.dockerfile)
		}
	}
	entries, err := collect(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := hashFiles(ctx, r.contextDir, entries, memo); err != nil {
		return nil, err
	}
	if r.relDockerfile != "" {
		// The Dockerfile was read twice: once to parse it (base images,
		// the key's Dockerfile record) and once as a context file (what is
		// sent). Both must be the same file.
		sum := sha256.Sum256(r.content)
		for _, e := range entries {
			if e.rel == r.relDockerfile && e.mode.IsRegular() && e.sum != sum {
				return nil, fmt.Errorf("compute build key: %w: %s was modified while it was read", ErrContextChanged, r.dockerfile)
			}
		}
	}

	h := sha256.New()
	e := &encoder{w: bufio.NewWriterSize(h, 64<<10)}
	e.w.WriteString(keyVersion)
	e.tag(tagDockerfile)
	e.bytes(r.content)
	for _, f := range entries {
		switch {
		case f.mode.IsDir():
			e.tag(tagDir)
			e.str(f.rel)
			e.uint(uint64(f.mode))
		case f.mode.IsRegular():
			e.tag(tagFile)
			e.str(f.rel)
			e.uint(uint64(f.mode))
			e.uint(uint64(f.size))
			e.bytes(f.sum[:])
		case f.mode&fs.ModeSymlink != 0:
			e.tag(tagSymlink)
			e.str(f.rel)
			e.uint(uint64(f.mode))
			e.str(f.link)
		default:
			e.tag(tagSpecial)
			e.str(f.rel)
			e.uint(uint64(f.mode))
			e.uint(f.rdev)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.BuildArgs)) {
		e.tag(tagArg)
		e.str(k)
		if v := in.BuildArgs[k]; v == nil {
			e.uint(0)
		} else {
			e.uint(1)
			e.str(*v)
		}
	}
	e.tag(tagTarget)
	e.str(in.Target)
	e.tag(tagPlatform)
	e.str(normalizePlatform(in.Platform))
	for _, k := range slices.Sorted(maps.Keys(in.Labels)) {
		e.tag(tagLabel)
		e.str(k)
		e.str(in.Labels[k])
	}
	e.tag(tagBuilder)
	e.str(in.Builder)
	for _, k := range slices.Sorted(maps.Keys(in.Secrets)) {
		e.tag(tagSecret)
		e.str(k)
		e.str(in.Secrets[k])
	}
	for _, ref := range refs {
		e.tag(tagBaseImage)
		e.str(ref)
		e.str(baseImageIDs[ref])
	}
	e.tag(tagEnd)
	if err := e.w.Flush(); err != nil {
		return nil, fmt.Errorf("compute build key: %w", err)
	}
	return &Snapshot{Key: hex.EncodeToString(h.Sum(nil)), r: r, entries: entries}, nil
}

// normalizePlatform returns the canonical form of a platform
// ("linux/x86_64" and "linux/amd64" are the same), or p itself if it does
// not parse (ParseDockerfile has rejected it before).
func normalizePlatform(p string) string {
	if p == "" {
		return ""
	}
	spec, err := platforms.Parse(p)
	if err != nil {
		return p
	}
	return platforms.FormatAll(platforms.Normalize(spec))
}

// collect lists the context paths of r that are sent to the engine, in
// tree order (comparePaths), with their stat data.
func collect(ctx context.Context, r *resolved) ([]*entry, error) {
	return walkContext(ctx, r.contextDir, r.excludes)
}

// hashFiles sets the content hash of every regular file in entries (paths
// under root), from memo where its stat data are unchanged, else by reading
// it; reads run in parallel, at most GOMAXPROCS at a time.
func hashFiles(ctx context.Context, root string, entries []*entry, memo *Memo) error {
	var todo []*entry
	if memo != nil {
		todo = memo.lookupAll(root, entries)
	} else {
		for _, e := range entries {
			if e.mode.IsRegular() {
				todo = append(todo, e)
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for e := range work {
				if err := hashFile(ctx, root, e, buf, memo); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, e := range todo {
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// hashFile reads e and sets its hash; if the file did not change since the
// walk stat'ed it, the hash goes to memo.
func hashFile(ctx context.Context, root string, e *entry, buf []byte, memo *Memo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := e.osPath(root)
	hashedAt := time.Now()
	f, err := openForHash(path)
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	// Read the size the walk saw, then compare the stat data: if they are
	// unchanged the file has no more bytes, and the read that would
	// report EOF is saved.
	if err := hashRead(ctx, h, f, buf, e.size); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	st, err := f.stat()
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	if st != e.st {
		// The file changed since the walk: hash what it holds now, and
		// do not remember a hash that may match no stat data.
		if err := hashRead(ctx, h, f, buf, -1); err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		if st, err = f.stat(); err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		copy(e.sum[:], h.Sum(nil))
		e.mode, e.size, e.st = fs.FileMode(st.mode), st.size, st
		return nil
	}
	copy(e.sum[:], h.Sum(nil))
	if memo != nil {
		memo.store(e.rel, e.st, hashedAt, e.sum)
	}
	return nil
}

// hashRead copies limit bytes of r (all, if limit < 0) into h, stopping
// early at EOF.
func hashRead(ctx context.Context, h io.Writer, r io.Reader, buf []byte, limit int64) error {
	for limit != 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf
		if limit > 0 && int64(len(b)) > limit {
			b = b[:limit]
		}
		n, err := r.Read(b)
		h.Write(b[:n])
		if limit > 0 {
			limit -= int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// encoder writes the unambiguous key encoding: one tag byte per record,
// every variable-length field prefixed by its length.
type encoder struct {
	w   *bufio.Writer
	tmp [binary.MaxVarintLen64]byte
}

// tag starts a record.
func (e *encoder) tag(t byte) { e.w.WriteByte(t) }

// uint writes an unsigned integer field.
func (e *encoder) uint(u uint64) {
	n := binary.PutUvarint(e.tmp[:], u)
	e.w.Write(e.tmp[:n])
}

// bytes writes a length-prefixed field.
func (e *encoder) bytes(b []byte) {
	e.uint(uint64(len(b)))
	e.w.Write(b)
}

// str writes a length-prefixed string field.
func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.w.WriteString(s)
}
