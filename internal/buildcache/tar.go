package buildcache

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
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
}

// ContextTar returns the uncompressed tar of the build context of in, as
// the docker CLI makes it: exactly the paths that survive .dockerignore
// (the paths Key hashes), plus the Dockerfile and .dockerignore, owned by
// root. Ignored files are never read.
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
	for _, e := range walked {
		if !e.mode.IsRegular() {
			continue // symlinks need not resolve; pipes would block
		}
		f, err := os.Open(e.osPath(r.contextDir))
		if err != nil {
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
	name := r.relDockerfile
	if name == "" {
		rc, name = addDockerfile(rc, r.content)
	}
	cr := &ctxReader{ctx: ctx, rc: rc}
	cr.stop = context.AfterFunc(ctx, func() { cr.closeOnce() })
	return &BuildContext{ReadCloser: cr, Dockerfile: name}, nil
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
