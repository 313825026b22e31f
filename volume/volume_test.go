package volume_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/volume"
)

func TestNewLabelsAndRemovesAtTestEnd(t *testing.T) {
	e := dockerEngine(t)
	var vol *volume.Volume
	t.Run("inner", func(t *testing.T) {
		vol = volume.New(t, volume.Label("team", "storage"))
		if !strings.HasPrefix(vol.Name(), "ct-"+engine.SessionID()+"-vol-") {
			t.Errorf("Name = %q; want the prefix ct-<session>-vol-", vol.Name())
		}
		info, err := vol.Inspect(t.Context())
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if info.Name != vol.Name() || info.Driver != "local" || info.Mountpoint == "" || info.CreatedAt.IsZero() {
			t.Errorf("Inspect = %+v; want name %s, driver local, a mount point and a creation time", info, vol.Name())
		}
		for k, want := range map[string]string{
			"team":              "storage",
			engine.LabelManaged: "true",
			engine.LabelSession: engine.SessionID(),
			engine.LabelTest:    t.Name(),
			engine.LabelPID:     strconv.Itoa(os.Getpid()),
		} {
			if got := info.Labels[k]; got != want {
				t.Errorf("label %s = %q; want %q", k, got, want)
			}
		}
	})
	if !vol.Removed() {
		t.Errorf("volume %s not removed at the end of its test", vol.Name())
	}
	if _, err := e.Client.VolumeInspect(t.Context(), vol.Name()); !errdefs.IsNotFound(err) {
		t.Errorf("engine still has volume %s after its test: inspect error %v", vol.Name(), err)
	}
}

func TestNamesAreUnique(t *testing.T) {
	a, b := volume.New(t), volume.New(t)
	if a.Name() == b.Name() {
		t.Errorf("two volumes share the name %s", a.Name())
	}
}

// TestDataOutlivesContainer writes with one container, removes it, and reads with
// another: what a database's data directory needs.
func TestDataOutlivesContainer(t *testing.T) {
	vol := volume.New(t)
	out, code := box{
		mounts: []mount{volumeMount(vol.Name(), "/data")},
		cmd:    []string{"sh", "-c", "mkdir -p /data/db && echo 'row 1' > /data/db/table"},
	}.run(t) // removed when run returns
	if code != 0 {
		t.Fatalf("writer: exit %d: %s", code, out)
	}
	out, code = box{
		mounts: []mount{volumeMount(vol.Name(), "/var/lib/db")},
		cmd:    []string{"cat", "/var/lib/db/db/table"},
	}.run(t)
	if code != 0 || out != "row 1\n" {
		t.Errorf("reader after the writer was removed: exit %d, %q; want \"row 1\\n\"", code, out)
	}
}

// TestSharedByRunningContainers has a reader wait for what a writer running at the
// same time writes.
func TestSharedByRunningContainers(t *testing.T) {
	vol := volume.New(t)
	readerID, _ := box{
		mounts: []mount{volumeMount(vol.Name(), "/in")},
		cmd: []string{"sh", "-c",
			"i=0; while [ ! -f /in/done ]; do i=$((i+1)); [ $i -gt 300 ] && exit 3; sleep 0.1; done; cat /in/msg"},
	}.start(t)
	out, code := box{
		mounts: []mount{volumeMount(vol.Name(), "/out")},
		cmd:    []string{"sh", "-c", "echo from-writer > /out/msg && touch /out/done"},
	}.run(t)
	if code != 0 {
		t.Fatalf("writer: exit %d: %s", code, out)
	}
	out, code = waitBox(t, readerID)
	if code != 0 || out != "from-writer\n" {
		t.Errorf("reader: exit %d, %q; want \"from-writer\\n\"", code, out)
	}
}

// TestDriverOpt checks that the local driver's options reach the engine: a tmpfs
// volume of 2 MiB. Podman 4.3 takes a size in "o" for a quota, which needs a
// filesystem with project quota: there the engine's refusal must name it, and a tmpfs
// volume without a size is checked instead.
func TestDriverOpt(t *testing.T) {
	o, want := "size=2m", "size=2048k"
	vol, err := volume.Create(t.Context(), volume.Driver("local"), volume.DriverOpt("type", "tmpfs"),
		volume.DriverOpt("device", "tmpfs"), volume.DriverOpt("o", o))
	if err != nil && testimages.IsPodman(t) && strings.Contains(err.Error(), "Project Quota") {
		t.Logf("podman: %v", err)
		o, want = "nodev", "nodev"
		vol, err = volume.Create(t.Context(), volume.Driver("local"), volume.DriverOpt("type", "tmpfs"),
			volume.DriverOpt("device", "tmpfs"), volume.DriverOpt("o", o))
	}
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { vol.Remove(context.Background()) })
	info, err := vol.Inspect(t.Context())
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if info.Options["type"] != "tmpfs" || info.Options["o"] != o {
		t.Errorf("Inspect: options %v; want type=tmpfs o=%s", info.Options, o)
	}
	out, code := box{
		mounts: []mount{volumeMount(vol.Name(), "/mem")},
		cmd:    []string{"grep", " /mem ", "/proc/mounts"},
	}.run(t)
	if code != 0 || !strings.HasPrefix(out, "tmpfs /mem tmpfs ") || !strings.Contains(out, want) {
		t.Errorf("mount of the volume: exit %d, %q; want a tmpfs with %s", code, out, want)
	}
}

func TestRemoveInUse(t *testing.T) {
	ctx := t.Context()
	dockerEngine(t) // skips without an engine
	vol, err := volume.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { vol.Remove(context.Background()) })
	running, runningName := box{mounts: []mount{volumeMount(vol.Name(), "/data")}, cmd: []string{"sleep", "60"}}.start(t)
	stopped, stoppedName := box{mounts: []mount{volumeMount(vol.Name(), "/data")}, cmd: []string{"true"}}.create(t)

	err = vol.Remove(ctx)
	if !errors.Is(err, volume.ErrInUse) {
		t.Fatalf("Remove while containers use the volume: %v; want ErrInUse", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "remove volume "+vol.Name()+": ") || !strings.Contains(msg, runningName) || !strings.Contains(msg, stoppedName) {
		t.Errorf("Remove: %q; want it to name volume %s and containers %s and %s", msg, vol.Name(), runningName, stoppedName)
	}
	if vol.Removed() {
		t.Errorf("Removed() after a failed Remove")
	}

	removeBox(t, running)
	if err := vol.Remove(ctx); !errors.Is(err, volume.ErrInUse) || strings.Contains(err.Error(), runningName) {
		t.Errorf("Remove while a stopped container uses the volume: %v; want ErrInUse naming only %s", err, stoppedName)
	}
	removeBox(t, stopped)
	if err := vol.Remove(ctx); err != nil {
		t.Fatalf("Remove after the containers are gone: %v", err)
	}
	if err := vol.Remove(ctx); err != nil {
		t.Errorf("second Remove: %v; want nil", err)
	}
	if !vol.Removed() {
		t.Errorf("Removed() = false after Remove")
	}
	if _, err := vol.Inspect(ctx); !errors.Is(err, volume.ErrRemoved) {
		t.Errorf("Inspect after Remove: %v; want ErrRemoved", err)
	}
	if left := sessionVolumes(t); len(left) != 0 {
		t.Errorf("volumes left: %v", left)
	}
}

func TestRemovedBehindItsBack(t *testing.T) {
	ctx := t.Context()
	dockerEngine(t) // skips without an engine
	vol, err := volume.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := dockerEngine(t).Client.VolumeRemove(ctx, vol.Name(), false); err != nil {
		t.Fatalf("remove with the raw client: %v", err)
	}
	if _, err := vol.Inspect(ctx); !errors.Is(err, volume.ErrRemoved) {
		t.Errorf("Inspect: %v; want ErrRemoved", err)
	}
	if err := vol.Remove(ctx); err != nil {
		t.Errorf("Remove of a volume already gone: %v; want nil", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	dockerEngine(t)
	for _, tc := range []struct {
		opt  volume.Option
		want string
	}{
		{volume.Label("", "x"), `empty label key`},
		{volume.Label("org.containertest.keep", "true"), `reserved for the framework`},
		{volume.Driver(""), `empty driver name`},
		{volume.DriverOpt("", "x"), `empty driver option key`},
	} {
		v, err := volume.Create(t.Context(), tc.opt)
		if err == nil {
			v.Remove(context.Background())
			t.Errorf("Create succeeded; want an error containing %q", tc.want)
			continue
		}
		if !errors.Is(err, volume.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), "create volume: ") {
			t.Errorf("Create: %v; want ErrInvalidOption and %q", err, tc.want)
		}
	}
	// The engine checks what only it can: a bad option of the local driver.
	if _, err := volume.Create(t.Context(), volume.DriverOpt("no-such-option", "x")); err == nil ||
		!strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("Create with an unknown driver option: %v; want an error naming it", err)
	}
	if left := sessionVolumes(t); len(left) != 0 {
		t.Errorf("failed Creates left volumes %v", left)
	}
}
