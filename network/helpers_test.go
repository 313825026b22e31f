package network_test

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
	"github.com/containertest/containertest/internal/engine/docker/nat"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/engine/docker/stdcopy"
	"github.com/containertest/containertest/internal/leakcheck"
	"github.com/containertest/containertest/internal/testimages"
)

// TestMain fails the run when this process leaves a labelled container, network or
// volume behind.
func TestMain(m *testing.M) { leakcheck.Main(m, "network") }

// dockerEngine returns the engine, skipping the test when there is none (unless
// CONTAINERTEST_REQUIRE_DOCKER=1).
func dockerEngine(t testing.TB) *engine.Engine {
	t.Helper()
	return testimages.Engine(t)
}

// A box is a busybox container made with the raw client, labelled with the session.
type box struct {
	net     string   // network to join at create time, or ""
	aliases []string // on net
	cmd     []string
	publish string // a port such as "8080/tcp" to publish on 127.0.0.1, or ""
}

var boxSeq atomic.Int64

// create creates the container (without starting it) and registers its forced removal.
func (b box) create(t testing.TB) (id, name string) {
	t.Helper()
	e := dockerEngine(t)
	name = fmt.Sprintf("ct-%s-box-%d", engine.SessionID(), boxSeq.Add(1))
	cfg := &container.Config{Image: "busybox:latest", Cmd: b.cmd, Labels: engine.WithLabels(nil)}
	hc := &container.HostConfig{}
	if b.publish != "" {
		p := nat.Port(b.publish)
		cfg.ExposedPorts = nat.PortSet{p: {}}
		hc.PortBindings = nat.PortMap{p: {{HostIP: e.PublishIP()}}}
	}
	var nc *dnetwork.NetworkingConfig
	if b.net != "" {
		hc.NetworkMode = container.NetworkMode(b.net)
		nc = &dnetwork.NetworkingConfig{EndpointsConfig: map[string]*dnetwork.EndpointSettings{
			b.net: {Aliases: b.aliases},
		}}
	}
	res, err := e.Client.ContainerCreate(t.Context(), cfg, hc, nc, nil, name)
	if err != nil {
		t.Fatalf("network: create container: %v", err)
	}
	t.Cleanup(func() { removeBox(t, res.ID) })
	return res.ID, name
}

// start creates and starts a long-running container.
func (b box) start(t testing.TB) (id, name string) {
	t.Helper()
	id, name = b.create(t)
	if err := dockerEngine(t).Client.ContainerStart(t.Context(), id, container.StartOptions{}); err != nil {
		t.Fatalf("network: start container %s: %v", name, err)
	}
	return id, name
}

// run runs the container to completion and returns its output and exit code; the
// container is removed before run returns.
func (b box) run(t testing.TB) (out string, code int) {
	t.Helper()
	e := dockerEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id, name := b.create(t)
	defer removeBox(t, id)
	waitC, errC := e.Client.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := e.Client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("network: start container %s: %v", name, err)
	}
	select {
	case r := <-waitC:
		code = int(r.StatusCode)
	case err := <-errC:
		t.Fatalf("network: wait for container %s: %v", name, err)
	}
	rc, err := e.Client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("network: logs of container %s: %v", name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		t.Fatalf("network: read logs of container %s: %v", name, err)
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
		t.Errorf("network: remove container %s: %v", id, err)
	}
}

// sessionNetworks lists this session's networks on the engine.
func sessionNetworks(t testing.TB) []dnetwork.Summary {
	t.Helper()
	ns, err := listSessionNetworks()
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	return ns
}

// listSessionNetworks lists this session's networks; it may run on any goroutine.
func listSessionNetworks() ([]dnetwork.Summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := e.Client.NetworkList(ctx, dnetwork.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", engine.SessionFilter())),
	})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	return ns, nil
}
