package containers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/volume"
)

// nvSh runs script in c and returns its standard output; a non-zero exit fails the test.
func nvSh(ctx context.Context, t *testing.T, c *containers.Container, script string) string {
	t.Helper()
	res, err := c.Exec(ctx, "sh", "-c", script)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "%q in %s: %s", script, c.Name(), res.Stderr)
	return res.Stdout
}

// TestVolumeDataSurvivesContainerRemoval is the database scenario: the data directory
// is a named volume, the container is removed, a new one starts on the same data.
func TestVolumeDataSurvivesContainerRemoval(t *testing.T) {
	ctx := t.Context()
	data := volume.New(t)
	db := nvSleeper().Mount(data, "/var/lib/db")

	first := db.Start(t)
	nvSh(ctx, t, first, "echo 'INSERT 1' >> /var/lib/db/wal && echo 'INSERT 2' >> /var/lib/db/wal")
	require.NoError(t, first.Terminate(ctx))
	requireNoLeak(t, first.Name())

	second := db.Start(t)
	assert.Equal(t, "INSERT 1\nINSERT 2\n", nvSh(ctx, t, second, "cat /var/lib/db/wal"))
}

// TestVolumeSharedByWriterAndReader has two running containers share one volume.
func TestVolumeSharedByWriterAndReader(t *testing.T) {
	ctx := t.Context()
	shared := volume.New(t)
	all := containers.StartAll(t, nvSleeper().Mount(shared, "/out"), nvSleeper().Mount(shared, "/in"))
	writer, reader := all[0], all[1]

	nvSh(ctx, t, writer, "echo 'report ready' > /out/report.txt")
	assert.Equal(t, "report ready\n", nvSh(ctx, t, reader, "cat /in/report.txt"))
	nvSh(ctx, t, reader, "rm /in/report.txt")
	assert.Empty(t, nvSh(ctx, t, writer, "ls /out"), "the reader's delete is not seen by the writer")
}

func TestVolumeBindShowsHostFile(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.ini"), []byte("[server]\nport=8080\n"), 0o644))

	c := nvSleeper().
		Bind(dir, "/etc/app").
		Bind(filepath.Join(dir, "config.ini"), "/ro/config.ini", containers.ReadOnlyMount()).
		Start(t)

	assert.Equal(t, "[server]\nport=8080\n", nvSh(ctx, t, c, "cat /etc/app/config.ini"))
	assert.Equal(t, "[server]\nport=8080\n", nvSh(ctx, t, c, "cat /ro/config.ini"))

	// A read-write bind writes through to the host.
	nvSh(ctx, t, c, "echo written-inside > /etc/app/out.txt")
	got, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written-inside\n", string(got))

	// A read-only bind refuses writes.
	res, err := c.Exec(ctx, "sh", "-c", "echo changed > /ro/config.ini")
	require.NoError(t, err)
	assert.NotEqual(t, 0, res.ExitCode, "write to a read-only bind succeeded")
	assert.Contains(t, res.Stderr, "Read-only file system")
	got, err = os.ReadFile(filepath.Join(dir, "config.ini"))
	require.NoError(t, err)
	assert.Equal(t, "[server]\nport=8080\n", string(got), "the host file changed through a read-only bind")
}

func TestVolumeTmpfsIsEmptyAfterRestart(t *testing.T) {
	ctx := t.Context()
	c := nvSleeper().Tmpfs("/scratch", containers.TmpfsSize(1<<20)).Start(t)

	mounts := nvSh(ctx, t, c, "grep ' /scratch ' /proc/mounts")
	assert.True(t, strings.HasPrefix(mounts, "tmpfs /scratch tmpfs "), "mount: %s", mounts)
	assert.Contains(t, mounts, "size=1024k")

	nvSh(ctx, t, c, "echo temp > /scratch/file && echo kept > /root-file")
	assert.Equal(t, "file\n", nvSh(ctx, t, c, "ls /scratch"))
	require.NoError(t, c.Restart(ctx, 0))
	assert.Empty(t, nvSh(ctx, t, c, "ls /scratch"), "tmpfs content survived a restart")
	// The container's own filesystem did survive: it was a restart, not a new container.
	assert.Equal(t, "kept\n", nvSh(ctx, t, c, "cat /root-file"))
}

// A tmpfs is world-writable with the sticky bit (1777), as Docker makes it, on every
// engine: podman makes it 0755 and root's unless told, so a container that runs as
// another user could not write to it.
func TestVolumeTmpfsWritableByAnyUser(t *testing.T) {
	ctx := t.Context()
	c := nvSleeper().User("1234:1234").Tmpfs("/scratch").Tmpfs("/small", containers.TmpfsSize(1<<20)).Start(t)
	for _, dir := range []string{"/scratch", "/small"} {
		assert.Equal(t, "1777\n", nvSh(ctx, t, c, "stat -c %a "+dir), "mode of %s", dir)
		assert.Equal(t, "ok\n", nvSh(ctx, t, c, "echo ok > "+dir+"/f && cat "+dir+"/f"), "writing to %s as uid 1234", dir)
	}
}

// Bad input: each is a clear error, and nothing is left behind.

func TestVolumeRelativeTargets(t *testing.T) {
	containers.RequireDocker(t)
	vol := volume.New(t)
	for what, spec := range map[string]containers.Spec{
		"mount": nvSleeper().Mount(vol, "data"),
		"bind":  nvSleeper().Bind(t.TempDir(), "./data"),
		"tmpfs": nvSleeper().Tmpfs("tmp/scratch"),
	} {
		name := "ct-relative-" + what + "-" + engine.SessionID()
		c, err := spec.Named(name).Run(t.Context())
		if err == nil {
			c.Terminate(context.Background())
			t.Errorf("%s with a relative target: Run succeeded", what)
			continue
		}
		t.Logf("%s: %v", what, err)
		assert.Contains(t, err.Error(), "not an absolute path", what)
		assert.Error(t, spec.Err(), "%s: Spec.Err does not report the relative target", what)
		requireNoLeak(t, name)
	}
}

func TestVolumeBindOfMissingHostPath(t *testing.T) {
	containers.RequireDocker(t)
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	name := "ct-bind-missing-" + engine.SessionID()
	c, err := nvSleeper().Named(name).Bind(missing, "/data").Run(t.Context())
	if err == nil {
		c.Terminate(context.Background())
		t.Fatal("Run with a bind of a missing host path succeeded")
	}
	t.Logf("error: %v", err)
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), "does not exist")
	requireNoLeak(t, name)
	_, statErr := os.Stat(missing)
	assert.True(t, os.IsNotExist(statErr), "the engine created the missing host path %s", missing)
}

func TestVolumeRemoveInUse(t *testing.T) {
	ctx := t.Context()
	vol := volume.New(t)
	c := nvSleeper().Mount(vol, "/data").Start(t)
	err := vol.Remove(ctx)
	require.ErrorIs(t, err, volume.ErrInUse)
	assert.Contains(t, err.Error(), c.Name())
	require.NoError(t, c.Terminate(ctx))
	require.NoError(t, vol.Remove(ctx))
	nvRequireNoVolume(t, vol.Name())
}

// TestVolumeMountRemoved mounts a volume that was removed: the engine would quietly
// create an empty, unlabelled volume of that name, so Start must refuse.
func TestVolumeMountRemoved(t *testing.T) {
	ctx := t.Context()
	vol := volume.New(t)
	require.NoError(t, vol.Remove(ctx))

	name := "ct-mount-removed-" + engine.SessionID()
	c, err := nvSleeper().Named(name).Mount(vol, "/data").Run(ctx)
	if err == nil {
		c.Terminate(context.Background())
	}
	nvRequireNoVolume(t, vol.Name())
	require.Error(t, err, "Run with a removed volume succeeded")
	t.Logf("error: %v", err)
	assert.ErrorIs(t, err, volume.ErrRemoved)
	assert.Contains(t, err.Error(), vol.Name())
	requireNoLeak(t, name)
}

// nvRequireNoVolume checks that the engine has no volume called name, and removes one
// that is there (the engine creates missing named volumes, unlabelled).
func nvRequireNoVolume(t *testing.T, name string) {
	t.Helper()
	eng, err := engine.Get(context.Background())
	require.NoError(t, err)
	_, err = eng.Client.VolumeInspect(context.Background(), name)
	if err == nil {
		t.Errorf("volume %s exists", name)
		if rerr := eng.Client.VolumeRemove(context.Background(), name, true); rerr != nil {
			t.Errorf("remove volume %s: %v", name, rerr)
		}
		return
	}
	assert.True(t, errdefs.IsNotFound(err), "inspect volume %s: %v", name, err)
}

// A domain name reaches the container's UTS namespace; where the engine would drop it
// (podman), Start refuses the spec and creates nothing.
func TestDomainName(t *testing.T) {
	ctx := t.Context()
	spec := nvSleeper().Hostname("box1").DomainName("example.test")
	if testimages.IsPodman(t) {
		name := "ct-domainname-" + engine.SessionID()
		c, err := spec.Named(name).Run(ctx)
		if err == nil {
			c.Terminate(context.Background())
			t.Fatal("Run with a domain name succeeded on podman, which drops it")
		}
		t.Logf("error: %v", err)
		assert.ErrorIs(t, err, containers.ErrUnsupportedByEngine)
		assert.Contains(t, err.Error(), "example.test")
		requireNoLeak(t, name)
		return
	}
	c := spec.Start(t)
	assert.Equal(t, "box1 example.test\n", nvSh(ctx, t, c, "echo $(hostname) $(cat /proc/sys/kernel/domainname)"))
}
