package containers

import (
	"context"
	"fmt"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/engine/docker/versions"
	"github.com/containertest/containertest/network"
)

// HostName is the name by which a container started with HostAccess reaches the host.
const HostName = "host.docker.internal"

// HostAccess lets the container reach servers that the test runs on the host, at the
// name HostName ("host.docker.internal"), as Docker Desktop does everywhere. The name
// is added to the container's /etc/hosts with the host's address on the container's
// first network:
//
//   - On a network of the test (On, network.New), that network's gateway: the host's
//     own address on the network's bridge. The same on every engine; a host server
//     the container should reach listens there (network.Info.Gateways), or on all
//     addresses.
//   - On the engine's default bridge (no On), the engine's "host-gateway" where it has
//     it (Docker 20.10, API 1.41, and later), else the default bridge's gateway, which
//     is what "host-gateway" means.
//   - With host networking, 127.0.0.1: the container shares the host's addresses.
//
// A firewall on the host may still refuse connections from containers. The start fails
// when the network has no IPv4 gateway, or with network "none", naming the network.
func (s Spec) HostAccess() Spec {
	return s.withPrepare(func(ctx context.Context, _ Spec, eng *engine.Engine, _ *container.Config, hc *container.HostConfig, _ *dnetwork.NetworkingConfig) error {
		ip, err := hostAddress(ctx, eng, hc.NetworkMode)
		if err != nil {
			return fmt.Errorf("host access: %w", err)
		}
		hc.ExtraHosts = append(hc.ExtraHosts, HostName+":"+ip)
		return nil
	})
}

// engineHasHostGateway reports whether the engine understands "host-gateway" in extra
// hosts. A variable so that tests can take the other path.
var engineHasHostGateway = func(eng *engine.Engine) bool {
	return versions.GreaterThanOrEqualTo(eng.APIVersion, "1.41")
}

// hostAddress is what HostName should resolve to in a container on network mode.
func hostAddress(ctx context.Context, eng *engine.Engine, mode container.NetworkMode) (string, error) {
	switch {
	case mode.IsHost():
		return "127.0.0.1", nil
	case mode.IsNone():
		return "", fmt.Errorf("the container has no network (%q)", mode)
	case mode.IsContainer():
		return "", fmt.Errorf("the container shares the network of another (%q): give that one HostAccess", mode)
	}
	name := string(mode)
	if mode == "" || mode.IsDefault() || mode.IsBridge() {
		if engineHasHostGateway(eng) {
			return "host-gateway", nil
		}
		name = "bridge"
	}
	n, err := network.Lookup(ctx, name)
	if err != nil {
		return "", fmt.Errorf("find network %s for its gateway: %w", name, err)
	}
	info, err := n.Inspect(ctx)
	if err != nil {
		return "", fmt.Errorf("find the gateway of network %s: %w", name, err)
	}
	for _, g := range info.Gateways {
		if g.Is4() {
			return g.String(), nil
		}
	}
	return "", fmt.Errorf("network %s has no IPv4 gateway", name)
}
