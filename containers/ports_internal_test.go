package containers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/network"
)

func TestOnTwiceMergesAliasesAndKeepsTheBase(t *testing.T) {
	RequireDocker(t)
	net, other := network.New(t), network.New(t)
	base := Image("busybox").On(net, "db")
	spec := base.On(other, "x").On(net, "postgres", "db")
	require.NoError(t, spec.Err())
	require.Len(t, spec.networks, 2, "one attachment per network")
	assert.Equal(t, []string{"db", "postgres"}, spec.networks[0].aliases)
	assert.Equal(t, []string{"x"}, spec.networks[1].aliases)
	assert.Equal(t, []string{"db"}, base.networks[0].aliases, "the base spec changed")

	_, _, nc, err := spec.engineConfig(local, "busybox", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "postgres"}, nc.EndpointsConfig[net.Name()].Aliases)
}

func TestEngineConfigHostNetworkPublishesNothing(t *testing.T) {
	_, hc, _, err := Image("busybox").Expose("8080").
		Modify(func(_ *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" }).
		engineConfig(local, "busybox", nil)
	require.NoError(t, err)
	assert.Empty(t, hc.PortBindings)
}
