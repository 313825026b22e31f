package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containertest/containertest/internal/engine/docker/container"
)

// CopyTo writes content to the file path (absolute) in the container, creating
// missing parent directories.
func (c *Container) CopyTo(ctx context.Context, path string, content []byte, mode fs.FileMode) error {
	if err := checkTarget(path); err != nil {
		return c.wrap("copy to", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, path, content, mode); err != nil {
		return c.wrap("copy to", err)
	}
	if err := tw.Close(); err != nil {
		return c.wrap("copy to", err)
	}
	if err := c.eng.Client.CopyToContainer(ctx, c.id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return c.wrap("copy to", err)
	}
	return nil
}

// CopyFrom reads the regular file at path in the container.
func (c *Container) CopyFrom(ctx context.Context, path string) ([]byte, error) {
	if err := checkTarget(path); err != nil {
		return nil, c.wrap("copy from", err)
	}
	rc, st, err := c.eng.Client.CopyFromContainer(ctx, c.id, path)
	if err != nil {
		return nil, fmt.Errorf("copy %s from container %s: %w", path, c.name, err)
	}
	defer rc.Close()
	if st.Mode.IsDir() {
		return nil, fmt.Errorf("copy %s from container %s: is a directory", path, c.name)
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("copy %s from container %s: %w", path, c.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// addFile writes a file entry and its parent directories to tw.
func addFile(tw *tar.Writer, p string, content []byte, mode fs.FileMode) error {
	p = strings.TrimPrefix(path.Clean(p), "/")
	dirs := strings.Split(p, "/")
	for i := 1; i < len(dirs); i++ {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(dirs[:i], "/") + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	if mode == 0 {
		mode = 0o644
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: int64(mode.Perm()), Size: int64(len(content))}); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// copyInitial copies the spec's files and directories in before the start.
func (c *Container) copyInitial(ctx context.Context) error {
	if len(c.spec.files) == 0 && len(c.spec.dirs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range c.spec.files {
		if err := addFile(tw, f.path, f.content, f.mode); err != nil {
			return c.wrap("copy files into", err)
		}
	}
	for _, d := range c.spec.dirs {
		if err := addDir(tw, d.hostDir, d.target); err != nil {
			return c.wrap("copy files into", err)
		}
	}
	if err := tw.Close(); err != nil {
		return c.wrap("copy files into", err)
	}
	if err := c.eng.Client.CopyToContainer(ctx, c.id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return c.wrap("copy files into", err)
	}
	return nil
}

// addDir adds the tree under hostDir to tw, rooted at target.
func addDir(tw *tar.Writer, hostDir, target string) error {
	st, err := os.Stat(hostDir)
	if err != nil {
		return fmt.Errorf("copy dir: %w: %w", ErrInvalidSpec, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("copy dir: %w: %s is not a directory", ErrInvalidSpec, hostDir)
	}
	root := strings.TrimPrefix(path.Clean(target), "/")
	parts := strings.Split(root, "/")
	for i := 1; i <= len(parts); i++ {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i], "/") + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	return filepath.WalkDir(hostDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(hostDir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = path.Join(root, filepath.ToSlash(rel))
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
}

// CopyDirTo copies the host directory hostDir into the running (or stopped)
// container at target, as Spec.CopyDir does before the start: the contents of hostDir
// become the contents of target, missing parent directories are created, files keep
// their modes and belong to root. A relative hostDir is resolved against the working
// directory; target must be absolute.
func (c *Container) CopyDirTo(ctx context.Context, hostDir, target string) error {
	if err := checkTarget(target); err != nil {
		return c.wrap("copy dir to", err)
	}
	dir, err := absPath(hostDir)
	if err != nil {
		return c.wrap("copy dir to", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addDir(tw, dir, target); err != nil {
		return c.wrap("copy dir to", err)
	}
	if err := tw.Close(); err != nil {
		return c.wrap("copy dir to", err)
	}
	if err := c.eng.Client.CopyToContainer(ctx, c.id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy dir %s to %s in container %s: %w", hostDir, target, c.name, err)
	}
	return nil
}
