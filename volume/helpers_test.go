package volume_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dmount "github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/internal/engine/docker/stdcopy"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/leakcheck"
	"github.com/containertest/containertest/internal/testimages"
)

// TestMain fails the run when this process leaves a labelled container, network or
// volume behind.
func TestMain(m *testing.M) { leakcheck.Main(m, "volume") }

// dockerEngine returns the engine, skipping the test when there is none (unless
// CONTAINERTEST_REQUIRE_DOCKER=1).
func dockerEngine(t testing.TB) *engine.Engine {
	t.Helper()
	return testimages.Engine(t)
}

// A box is a busybox container made with the raw client, labelled with the session.
type box struct {
	mounts []mount
	cmd    []string
}

var boxSeq atomic.Int64

// create creates the container (without starting it) and registers its forced removal.
func (b box) create(t testing.TB) (id, name string) {
	t.Helper()
	e := dockerEngine(t)
	name = fmt.Sprintf("ct-%s-box-%d", engine.SessionID(), boxSeq.Add(1))
	cfg := &container.Config{Image: "busybox:latest", Cmd: b.cmd, Labels: engine.WithLabels(nil)}
	hc := &container.HostConfig{Mounts: b.mounts, NetworkMode: "none"}
	res, err := e.Client.ContainerCreate(t.Context(), cfg, hc, nil, nil, name)
	if err != nil {
		t.Fatalf("volume: create container: %v", err)
	}
	t.Cleanup(func() { removeBox(t, res.ID) })
	return res.ID, name
}

// start creates and starts a long-running container.
func (b box) start(t testing.TB) (id, name string) {
	t.Helper()
	id, name = b.create(t)
	if err := dockerEngine(t).Client.ContainerStart(t.Context(), id, container.StartOptions{}); err != nil {
		t.Fatalf("volume: start container %s: %v", name, err)
	}
	return id, name
}

// run runs the container to completion and returns its output and exit code; the
// container is removed before run returns.
func (b box) run(t testing.TB) (out string, code int) {
	t.Helper()
	id, _ := b.start(t)
	return waitBox(t, id)
}

// waitBox waits for a started container to exit, removes it, and returns its output
// and exit code.
func waitBox(t testing.TB, id string) (out string, code int) {
	t.Helper()
	e := dockerEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	defer removeBox(t, id)
	waitC, errC := e.Client.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case r := <-waitC:
		code = int(r.StatusCode)
	case err := <-errC:
		t.Fatalf("volume: wait for container %s: %v", id, err)
	}
	rc, err := e.Client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("volume: logs of container %s: %v", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		t.Fatalf("volume: read logs of container %s: %v", id, err)
	}
	return buf.String(), code
}

func removeBox(t testing.TB, id string) {
	t.Helper()
	e := dockerEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.Client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		t.Errorf("volume: remove container %s: %v", id, err)
	}
}

// sessionVolumes lists this session's volumes on the engine.
func sessionVolumes(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vs, err := dockerEngine(t).Client.VolumeList(ctx, dvolume.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", engine.SessionFilter())),
	})
	if err != nil {
		t.Fatalf("volume: list volumes: %v", err)
	}
	var names []string
	for _, v := range vs.Volumes {
		names = append(names, v.Name)
	}
	return names
}

// volumeMount mounts volume name at target.
func volumeMount(name, target string) mount {
	return mount{Type: dmount.TypeVolume, Source: name, Target: target}
}

type mount = dmount.Mount
