package buildcache

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/go-archive"
)

// BuildContext is the archive to send to the engine for a build.
type BuildContext struct {
	io.ReadCloser
	// Dockerfile is the name of the Dockerfile inside the archive, the
	// value for the engine's Dockerfile build option.
	Dockerfile string

	check *checker // nil: the archive is not checked against a key
}

// Err returns the error that stopped the archive because the context no
// longer matched its key (it matches ErrContextChanged), or nil. A reader
// of the archive sees it too, but an HTTP client may not pass it on intact.
func (b *BuildContext) Err() error {
	if b.check == nil {
		return nil
	}
	b.check.mu.Lock()
	defer b.check.mu.Unlock()
	return b.check.err
}

// ContextTar returns the uncompressed tar of the build context of in, as
// the docker CLI makes it: exactly the paths that survive .dockerignore
// (the paths Key hashes), plus the Dockerfile and .dockerignore, owned by
// root. Ignored files are never read. A build sends Snapshot.Context
// instead, which is checked against its key.
//
// A Dockerfile outside the context directory is added under a generated
// name (".dockerfile.<hash of its content>"), which is also appended to the
// archived .dockerignore so the engine drops it from the context, and
// BuildContext.Dockerfile says so.
//
// Every file is checked to be readable before the archive is started, so a
// file that cannot be read is an error rather than a silently missing
// entry. The archive is produced while it is read; the caller must Close
// it. Cancelling ctx makes reads fail with ctx's error.
func ContextTar(ctx context.Context, in Input) (*BuildContext, error) {
	r, err := in.resolve()
	if err != nil {
		return nil, err
	}
	walked, err := walkContext(ctx, r.contextDir, r.excludes)
	if err != nil {
		return nil, err
	}
	return archiveContext(ctx, r, walked, false)
}

// Context returns the archive of the build context that s describes, as
// ContextTar makes it, from the Dockerfile and ignore patterns read for the
// key. Every entry is checked against the key as it is streamed: its type,
// mode, size, symlink target and content hash. A path that appeared,
// disappeared or changed stops the archive before its end, with an error
// that matches ErrContextChanged and names the path (also from
// BuildContext.Err), so the engine never receives a complete archive that
// differs from the key.
func (s *Snapshot) Context(ctx context.Context) (*BuildContext, error) {
	return archiveContext(ctx, s.r, s.entries, true)
}

// archiveContext archives the context of r, whose walk found entries; with
// check, the archive is checked against the entries' stat data and hashes.
func archiveContext(ctx context.Context, r *resolved, entries []*entry, check bool) (*BuildContext, error) {
	for _, e := range entries {
		if !e.mode.IsRegular() {
			continue // symlinks need not resolve; pipes would block
		}
		f, err := os.Open(e.osPath(r.contextDir))
		if err != nil {
			if check && errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("check build context: %w: %s disappeared after its key was computed; build again to use the new content: %w",
					ErrContextChanged, e.osPath(r.contextDir), err)
			}
			return nil, fmt.Errorf("check build context: %w", err)
		}
		f.Close()
	}

	tb, err := archive.NewTarballer(r.contextDir, &archive.TarOptions{
		ExcludePatterns: r.excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("archive build context %s: %w", r.contextDir, err)
	}
	go tb.Do()
	rc := tb.Reader()
	var c *checker
	if check {
		c = newChecker(r.contextDir, entries)
		rc = c.run(rc)
	}
	name := r.relDockerfile
	if name == "" {
		rc, name = addDockerfile(rc, r.content)
	}
	cr := &ctxReader{ctx: ctx, rc: rc}
	cr.stop = context.AfterFunc(ctx, func() { cr.closeOnce() })
	return &BuildContext{ReadCloser: cr, Dockerfile: name, check: c}, nil
}

// checker re-writes an archive of the context entry by entry, and stops it
// at the first entry that differs from what the key was computed from.
type checker struct {
	dir  string
	want map[string]*entry
	sums map[string][sha256.Size]byte // regular files streamed so far

	mu  sync.Mutex
	err error
}

// newChecker returns a checker for the entries of the context dir.
func newChecker(dir string, entries []*entry) *checker {
	c := &checker{dir: dir, want: make(map[string]*entry, len(entries)), sums: map[string][sha256.Size]byte{}}
	for _, e := range entries {
		c.want[e.rel] = e
	}
	return c
}

// run returns the checked copy of the archive src. Closing it closes src.
func (c *checker) run(src io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := c.copy(pw, src)
		if errors.Is(err, ErrContextChanged) {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
		}
		pw.CloseWithError(err)
		src.Close()
	}()
	return &checkedReader{PipeReader: pr, src: src}
}

// checkedReader is the checked archive; Close also stops the source.
type checkedReader struct {
	*io.PipeReader
	src io.Closer
}

// Close implements io.Closer.
func (r *checkedReader) Close() error {
	r.PipeReader.Close()
	return r.src.Close()
}

// changed returns the error for the path rel, which changed as what says.
func (c *checker) changed(rel, what string) error {
	return fmt.Errorf("%w: %s %s after its key was computed; build again to use the new content",
		ErrContextChanged, filepath.Join(c.dir, filepath.FromSlash(rel)), what)
}

// copy writes the archive src to w, checking each entry; it does not finish
// the archive (no end blocks) when an entry differs.
func (c *checker) copy(w io.Writer, src io.Reader) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("archive build context %s: %w", c.dir, err)
		}
		rel := strings.TrimSuffix(h.Name, "/")
		e, ok := c.want[rel]
		if !ok {
			return c.changed(rel, "appeared")
		}
		delete(c.want, rel)
		mode := h.FileInfo().Mode()
		switch {
		case h.Typeflag == tar.TypeLink:
			// A hard link to a file archived before: same content.
			sum, ok := c.sums[h.Linkname]
			if !ok || !e.mode.IsRegular() || sum != e.sum {
				return c.changed(rel, "changed")
			}
		case mode != e.mode:
			return c.changed(rel, fmt.Sprintf("changed mode from %v to %v", e.mode, mode))
		case mode.IsRegular() && h.Size != e.size:
			return c.changed(rel, fmt.Sprintf("changed size from %d to %d bytes", e.size, h.Size))
		case mode&fs.ModeSymlink != 0 && h.Linkname != e.link:
			return c.changed(rel, fmt.Sprintf("changed target from %q to %q", e.link, h.Linkname))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		hash := sha256.New()
		if _, err := io.Copy(io.MultiWriter(tw, hash), tr); err != nil {
			return err
		}
		var sum [sha256.Size]byte
		copy(sum[:], hash.Sum(nil))
		if sum != e.sum {
			return c.changed(rel, "changed content")
		}
		c.sums[rel] = sum
	}
	if len(c.want) > 0 {
		gone := slices.SortedFunc(maps.Keys(c.want), comparePaths)
		return c.changed(gone[0], "disappeared or became unreadable")
	}
	return tw.Close()
}

// addDockerfile adds content to the archive rc under a name derived from
// it, and appends that name to the archive's .dockerignore (creating one
// that also ignores itself if there is none), as the docker CLI does for a
// Dockerfile outside the context.
func addDockerfile(rc io.ReadCloser, content []byte) (io.ReadCloser, string) {
	sum := sha256.Sum256(content)
	name := ".dockerfile." + hex.EncodeToString(sum[:10])
	now := time.Now()
	return archive.ReplaceFileTarWrapper(rc, map[string]archive.TarModifierFunc{
		name: func(string, *tar.Header, io.Reader) (*tar.Header, []byte, error) {
			return &tar.Header{
				Name:     name,
				Mode:     0o600,
				ModTime:  now,
				Typeflag: tar.TypeReg,
			}, content, nil
		},
		ignoreFileName: func(_ string, h *tar.Header, r io.Reader) (*tar.Header, []byte, error) {
			if h == nil {
				h = &tar.Header{Name: ignoreFileName, Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg}
			}
			var b bytes.Buffer
			if r != nil {
				if _, err := b.ReadFrom(r); err != nil {
					return nil, nil, err
				}
			} else {
				b.WriteString(ignoreFileName)
			}
			b.WriteString("\n" + name + "\n")
			return h, b.Bytes(), nil
		},
	}), name
}

// ctxReader fails reads once its context is done and then also closes the
// underlying pipe, which stops the goroutines producing the archive.
type ctxReader struct {
	ctx  context.Context
	rc   io.ReadCloser
	stop func() bool
	once sync.Once
	err  error
}

// Read implements io.Reader.
func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.rc.Read(p)
	if err != nil && c.ctx.Err() != nil {
		return n, c.ctx.Err()
	}
	return n, err
}

// Close implements io.Closer.
func (c *ctxReader) Close() error {
	c.stop()
	return c.closeOnce()
}

// closeOnce closes the underlying reader once.
func (c *ctxReader) closeOnce() error {
	c.once.Do(func() { c.err = c.rc.Close() })
	return c.err
}
