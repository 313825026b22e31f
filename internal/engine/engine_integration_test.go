package engine_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
)

// TestGetRealEngine connects to the machine's engine the way every package does.
func TestGetRealEngine(t *testing.T) {
	e := testimages.Engine(t) // skips, or fails with CONTAINERTEST_REQUIRE_DOCKER=1
	again, err := engine.Get(t.Context())
	require.NoError(t, err)
	assert.Same(t, e, again, "one engine per process")
	t.Logf("engine %s from %s, API %s, ports on %s (bound to %s), in container %q", e.Addr, e.Source, e.APIVersion, e.Host, e.PublishIP(), e.Container)

	assert.NotEmpty(t, e.Addr)
	assert.NotEmpty(t, e.Source)
	if strings.HasPrefix(e.Addr, "unix://") && os.Getenv("CONTAINERTEST_HOST") == "" {
		assert.False(t, e.Remote)
		if e.Container == "" {
			assert.Equal(t, "127.0.0.1", e.Host, "a local engine's ports are on the loopback address")
		} else {
			assert.Equal(t, e.Host, e.PublishIP(), "in a container, ports bind to the one address they are reached at")
			assert.NotEqual(t, "0.0.0.0", e.PublishIP())
		}
	}
	if os.Getenv("CONTAINERTEST_IN_CONTAINER") == "1" {
		// Set by the CI stage that runs the tests in a container (.ci/stages/incontainer.sh).
		assert.NotEmpty(t, e.Container, "the stage runs this in a container of the engine")
	}

	v, err := e.Client.ServerVersion(t.Context())
	require.NoError(t, err)
	want := v.APIVersion
	if versions.LessThan(api.DefaultVersion, want) {
		want = api.DefaultVersion
	}
	assert.Equal(t, want, e.APIVersion, "negotiated: the lower of the engine's (%s) and the client's (%s)", v.APIVersion, api.DefaultVersion)
	assert.Equal(t, want, e.Client.ClientVersion())
}

// TestGetReachesPublishedPort checks end to end that Engine.Host is where published
// ports answer, on a machine that may have a stray /.dockerenv.
func TestGetReachesPublishedPort(t *testing.T) {
	e := testimages.Engine(t)
	ref := testimages.Busybox(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	bind := e.PublishIP()
	name := fmt.Sprintf("ct-engine-%s-httpd", engine.SessionID())
	created, err := e.Client.ContainerCreate(ctx,
		&container.Config{
			Image:        ref,
			Cmd:          []string{"sh", "-c", "echo hello from busybox > /var/www/index.html && exec httpd -f -p 8080 -h /var/www"},
			ExposedPorts: nat.PortSet{"8080/tcp": {}},
			Labels:       engine.Labels(),
		},
		&container.HostConfig{PortBindings: nat.PortMap{"8080/tcp": {{HostIP: bind}}}},
		nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, e.Client.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}))
	})
	require.NoError(t, e.Client.ContainerStart(ctx, created.ID, container.StartOptions{}))
	info, err := e.Client.ContainerInspect(ctx, created.ID)
	require.NoError(t, err)
	bindings := info.NetworkSettings.Ports["8080/tcp"]
	require.NotEmpty(t, bindings, "port 8080 is published")
	port, err := strconv.Atoi(bindings[0].HostPort)
	require.NoError(t, err)

	url := "http://" + net.JoinHostPort(e.Host, strconv.Itoa(port)) + "/index.html"
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "GET %s", url)
	assert.Equal(t, "hello from busybox\n", body)
}
