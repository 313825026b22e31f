package containers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/versions"
	"github.com/containertest/containertest/volume"
)

// CopyDirTo copies a directory tree into a running container: nested directories,
// modes and symlinks arrive; a relative host directory is resolved against the working
// directory; bad input fails with an error that names it.
func TestCopyDirToRunningContainer(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Start(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "b", "run.sh"), []byte("echo deep"), 0o755))
	require.NoError(t, os.Symlink("index.html", filepath.Join(dir, "link")))

	require.NoError(t, c.CopyDirTo(t.Context(), dir, "/srv/www"))
	r, err := c.Exec(t.Context(), "sh", "-c", "cat /srv/www/index.html; sh /srv/www/a/b/run.sh; stat -c %a /srv/www/a/b/run.sh; readlink /srv/www/link")
	require.NoError(t, err)
	assert.Equal(t, "hellodeep\n755\nindex.html\n", r.Stdout, r.Stderr)

	t.Chdir(parent)
	require.NoError(t, c.CopyDirTo(t.Context(), "site", "/rel"))
	r, err = c.Exec(t.Context(), "cat", "/rel/index.html")
	require.NoError(t, err)
	assert.Equal(t, "hello", r.Stdout)

	assert.ErrorContains(t, c.CopyDirTo(t.Context(), dir, "srv"), `target "srv" is not an absolute path`)
	err = c.CopyDirTo(t.Context(), filepath.Join(parent, "missing"), "/x")
	assert.ErrorContains(t, err, filepath.Join(parent, "missing"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	assert.ErrorContains(t, c.CopyDirTo(t.Context(), filepath.Join(dir, "index.html"), "/x"), "index.html is not a directory")
	assert.ErrorContains(t, c.CopyDirTo(t.Context(), "", "/x"), "empty host path")
	_, err = c.CopyFrom(t.Context(), "srv/www/index.html")
	assert.ErrorContains(t, err, `target "srv/www/index.html" is not an absolute path`)
}

// Relative host paths of a spec (Bind, CopyDir, Build) are resolved against the working
// directory when the method is called: a later change of directory does not change
// what they name.
func TestRelativeHostPathsResolvedWhenCalled(t *testing.T) {
	containers.RequireDocker(t)
	parent := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(parent, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(parent, "data", "f"), []byte("right"), 0o644))
	elsewhere := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(elsewhere, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(elsewhere, "data", "f"), []byte("wrong"), 0o644))

	t.Chdir(parent)
	spec := containers.Image(busybox).Cmd("sleep", "60").WaitFor().
		Bind("data", "/bound", containers.ReadOnlyMount()).
		CopyDir("data", "/copied")
	t.Chdir(elsewhere)
	c := spec.Start(t)
	r, err := c.Exec(t.Context(), "sh", "-c", "cat /bound/f /copied/f")
	require.NoError(t, err)
	assert.Equal(t, "rightright", r.Stdout, r.Stderr)
}

// A named volume mounted with ReadOnlyMount can be read and not written; TmpfsSize on a
// volume mount is an error.
func TestReadOnlyVolumeMount(t *testing.T) {
	vol := volume.New(t)
	w := containers.Image(busybox).Cmd("sh", "-c", "echo kept >/data/f; sleep 60").Mount(vol, "/data").WaitFor().Start(t)
	require.NoError(t, w.Terminate(context.WithoutCancel(t.Context())))

	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Mount(vol, "/data", containers.ReadOnlyMount()).Start(t)
	r, err := c.Exec(t.Context(), "cat", "/data/f")
	require.NoError(t, err)
	assert.Equal(t, "kept\n", r.Stdout)
	r, err = c.Exec(t.Context(), "sh", "-c", "echo x >/data/g")
	require.NoError(t, err)
	assert.NotEqual(t, 0, r.ExitCode)
	assert.Contains(t, r.Stderr, "Read-only file system")
	info, err := c.Inspect(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Mounts, 1)
	assert.True(t, info.Mounts[0].ReadOnly, "%+v", info.Mounts[0])

	err = containers.Image(busybox).Mount(vol, "/data", containers.TmpfsSize(1<<20)).Err()
	assert.ErrorContains(t, err, "TmpfsSize applies only to Tmpfs")
	assert.ErrorContains(t, containers.Image(busybox).Mount(vol, "/data", nil).Err(), "nil mount option")
}

// On an engine older than API 1.48 an image mount fails the start with the engine's
// version, before the container is created.
func TestMountImageOnOldEngine(t *testing.T) {
	containers.RequireDocker(t)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	if !versions.LessThan(eng.APIVersion, "1.48") {
		t.Skipf("the engine speaks API %s, which has image mounts", eng.APIVersion)
	}
	name := "ct-mountimage-" + strings.ReplaceAll(t.Name(), "/", "-")
	_, err = containers.Image(busybox).Named(name).MountImage(busybox, "/img").Run(t.Context())
	require.Error(t, err)
	assert.True(t, errors.Is(err, containers.ErrUnsupportedByEngine), "%v", err)
	assert.ErrorContains(t, err, "the engine speaks API "+eng.APIVersion)
	assert.ErrorContains(t, err, "1.48")
	_, err = eng.Client.ContainerInspect(t.Context(), name)
	assert.True(t, errdefs.IsNotFound(err), "a container was created: %v", err)
}
