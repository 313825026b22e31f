package containers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/nat"
)

var local = &engine.Engine{Host: "127.0.0.1"}

func TestEngineConfigDefaults(t *testing.T) {
	cfg, hc, nc, err := Image("busybox").Expose("80", "53/udp").engineConfig(local, "busybox", map[string]string{"k": "v"})
	require.NoError(t, err)
	assert.False(t, hc.Privileged, "privileged must be opt-in")
	assert.False(t, hc.ReadonlyRootfs)
	assert.Nil(t, nc)
	assert.Nil(t, cfg.Cmd, "no Cmd: the image's CMD applies")
	assert.Nil(t, cfg.Entrypoint, "no Entrypoint: the image's ENTRYPOINT applies")
	assert.Equal(t, map[string]string{"k": "v"}, cfg.Labels)
	for _, p := range []nat.Port{"80/tcp", "53/udp"} {
		assert.Contains(t, cfg.ExposedPorts, p)
		assert.Equal(t, []nat.PortBinding{{HostIP: "127.0.0.1"}}, hc.PortBindings[p])
	}
}

func TestEngineConfigRemoteEngineBindsAllInterfaces(t *testing.T) {
	_, hc, _, err := Image("busybox").Expose("80").engineConfig(&engine.Engine{Host: "10.0.0.5", Remote: true}, "busybox", nil)
	require.NoError(t, err)
	assert.Equal(t, []nat.PortBinding{{HostIP: "0.0.0.0"}}, hc.PortBindings["80/tcp"])
}

func TestEngineConfigPrivilegedOptIn(t *testing.T) {
	_, hc, _, err := Image("busybox").Privileged().engineConfig(local, "busybox", map[string]string{"k": "v"})
	require.NoError(t, err)
	assert.True(t, hc.Privileged)
}

func TestEngineConfigCmdEntrypoint(t *testing.T) {
	cfg, _, _, err := Image("x").Cmd("a", "b").engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, []string(cfg.Cmd))
	assert.Nil(t, cfg.Entrypoint)

	cfg, _, _, err = Image("x").Entrypoint("ep").engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"ep"}, []string(cfg.Entrypoint))
	assert.Nil(t, cfg.Cmd)

	cfg, _, _, err = Image("x").Entrypoint().engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{""}, []string(cfg.Entrypoint), "an empty entrypoint clears the image's")
}

func TestEngineConfigEnvLastWins(t *testing.T) {
	cfg, _, _, err := Image("x").Env("A", "1").Env("B", "2").Env("A", "3").engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"A=3", "B=2"}, cfg.Env)
}

func TestEngineConfigHealthCheck(t *testing.T) {
	cfg, _, _, err := Image("x").HealthCheck(Health{Test: []string{"pg_isready"}, Interval: time.Second, Retries: 5}).engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"CMD", "pg_isready"}, cfg.Healthcheck.Test)
	assert.Equal(t, time.Second, cfg.Healthcheck.Interval)
	assert.Equal(t, 5, cfg.Healthcheck.Retries)

	cfg, _, _, err = Image("x").HealthCheck(Health{Test: []string{"CMD-SHELL", "true"}}).engineConfig(local, "x", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"CMD-SHELL", "true"}, cfg.Healthcheck.Test)
}

func TestSpecCopyOnWrite(t *testing.T) {
	base := Image("x").Env("A", "1").Expose("80").Label("k", "v").Cmd("c")
	// Give base spare capacity, the case where a naive append would share memory.
	base.env = append(make([]string, 0, 10), base.env...)
	base.exposed = append(make([]string, 0, 10), base.exposed...)
	a := base.Env("B", "2").Expose("81").Label("k", "a")
	b := base.Env("C", "3").Expose("82").Label("k", "b")
	assert.Equal(t, []string{"A=1"}, base.env)
	assert.Equal(t, []string{"A=1", "B=2"}, a.env)
	assert.Equal(t, []string{"A=1", "C=3"}, b.env)
	assert.Equal(t, []string{"80/tcp", "81/tcp"}, a.exposed)
	assert.Equal(t, []string{"80/tcp", "82/tcp"}, b.exposed)
	assert.Equal(t, "v", base.labels["k"])
	assert.Equal(t, "a", a.labels["k"])
	assert.Equal(t, "b", b.labels["k"])
	cmd := []string{"x", "y"}
	c := base.Cmd(cmd...)
	cmd[0] = "changed"
	assert.Equal(t, []string{"x", "y"}, c.cmd, "Cmd must copy its arguments")
}

func TestNormalizePort(t *testing.T) {
	for in, want := range map[string]string{"80": "80/tcp", "53/udp": "53/udp", "9000/SCTP": "9000/sctp", " 8080/tcp ": "8080/tcp"} {
		got, err := normalizePort(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "abc/tcp", "0", "65536", "80/xyz", "-1"} {
		_, err := normalizePort(bad)
		assert.Error(t, err, bad)
	}
}

func TestDedupeEnv(t *testing.T) {
	assert.Nil(t, dedupeEnv(nil))
	assert.Equal(t, []string{"A=2", "B="}, dedupeEnv([]string{"A=1", "B=", "A=2"}))
}
