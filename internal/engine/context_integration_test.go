package engine_test

import (
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
)

// dockerCLI runs the docker CLI with its config in dir and returns its output.
func dockerCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "docker", append([]string{"--config", dir}, args...)...)
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST=", "DOCKER_CONTEXT=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// needCLI skips when the docker CLI is missing: contexts are made with it, as users do.
func needCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed; contexts are made with it (Debian: docker.io)")
	}
}

// TestConnectCLIContexts resolves contexts that the docker CLI itself made in a
// temporary DOCKER_CONFIG: named by DOCKER_CONTEXT, or current by `docker context use`.
func TestConnectCLIContexts(t *testing.T) {
	needCLI(t)
	e := testimages.Engine(t)
	u, err := url.Parse(e.Addr)
	require.NoError(t, err)
	if u.Scheme != "unix" {
		t.Skipf("these contexts point at the local engine's socket; this engine is at %s", e.Addr)
	}
	cfg := t.TempDir()
	dockerCLI(t, cfg, "context", "create", "ct-sock", "--docker", "host="+e.Addr)
	addr, p := tlsFront(t)
	dockerCLI(t, cfg, "context", "create", "ct-tls", "--docker", "host="+addr+
		",ca="+filepath.Join(p.Dir, "ca.pem")+",cert="+filepath.Join(p.Dir, "cert.pem")+",key="+filepath.Join(p.Dir, "key.pem"))

	base := engine.Environ{DockerConfig: cfg, Home: t.TempDir(), DefaultSocket: filepath.Join(t.TempDir(), "none.sock")}
	check := func(t *testing.T, env engine.Environ, source, addr string) {
		t.Helper()
		got, err := engine.Connect(t.Context(), env)
		require.NoError(t, err)
		t.Cleanup(func() { got.Client.Close() })
		assert.Equal(t, source, got.Source)
		assert.Equal(t, addr, got.Addr)
		assert.Equal(t, "127.0.0.1", got.Host)
		_, err = got.Client.ContainerList(t.Context(), container.ListOptions{Limit: 1})
		require.NoError(t, err)
	}
	t.Run("DOCKER_CONTEXT", func(t *testing.T) {
		env := base
		env.DockerContext = "ct-sock"
		check(t, env, `docker context "ct-sock"`, e.Addr)
	})
	t.Run("DOCKER_CONTEXT with TLS", func(t *testing.T) {
		env := base
		env.DockerContext = "ct-tls"
		check(t, env, `docker context "ct-tls"`, addr)
	})
	t.Run("currentContext", func(t *testing.T) {
		dockerCLI(t, cfg, "context", "use", "ct-tls")
		check(t, base, `docker context "ct-tls"`, addr)
	})
}

func TestConnectCLIContextMissingEndpoint(t *testing.T) {
	needCLI(t)
	cfg := t.TempDir()
	gone := filepath.Join(t.TempDir(), "gone", "docker.sock")
	dockerCLI(t, cfg, "context", "create", "ct-gone", "--docker", "host=unix://"+gone)
	env := engine.Environ{DockerConfig: cfg, Home: t.TempDir(), DefaultSocket: filepath.Join(t.TempDir(), "none.sock")}

	t.Run("named", func(t *testing.T) {
		env := env
		env.DockerContext = "ct-gone"
		_, err := engine.Connect(t.Context(), env)
		require.ErrorIs(t, err, engine.ErrUnavailable)
		lines := strings.Split(err.Error(), "\n")
		require.Len(t, lines, 2, "the named context is the only place tried: %s", err)
		assert.Equal(t, "\tdocker context \"ct-gone\" (unix://"+gone+"): ping: dial unix "+gone+": connect: no such file or directory", lines[1])
	})
	t.Run("current", func(t *testing.T) {
		dockerCLI(t, cfg, "context", "use", "ct-gone")
		_, err := engine.Connect(t.Context(), env)
		require.ErrorIs(t, err, engine.ErrUnavailable)
		assert.Contains(t, err.Error(), "docker context \"ct-gone\" (unix://"+gone+"): ping: dial unix "+gone+": connect: no such file or directory")
	})
	t.Run("no such context", func(t *testing.T) {
		env := env
		env.DockerContext = "ct-never-made"
		_, err := engine.Connect(t.Context(), env)
		require.ErrorIs(t, err, engine.ErrUnavailable)
		assert.Contains(t, err.Error(), `docker context "ct-never-made"`)
	})
}
