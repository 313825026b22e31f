package containers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/network"
)

// IP joins the container to net, as On does (aliases given with On are kept), with the
// static address addr ("10.20.0.5", or an IPv6 address such as "fd00:20::5") instead of
// one the engine chooses. A container may have one IPv4 and one IPv6 address per
// network. The engine accepts static addresses only on user-defined networks created
// with a subnet of their own (network.Subnet) that holds addr, outside the range it
// assigns from when network.IPRange narrows that; the start fails with an error naming
// the network and the address otherwise. That holds as well for a network created
// without network.Subnet that got a subnet from containertest because the engine's
// address pools were used up: the engine would take the address there, but the same
// test would fail on a machine whose pools are not. Two containers with the same
// address on a network cannot both start. addr must be a literal unicast address.
func (s Spec) IP(net *network.Network, addr string) Spec {
	if net == nil {
		return s.fail(errors.New("ip: nil network"))
	}
	if isDefaultNetwork(net.Name()) {
		return s.fail(fmt.Errorf("ip %s on %s: static addresses work only on user-defined networks (create one with network.New and network.Subnet)", addr, net.Name()))
	}
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil || a.Zone() != "" {
		return s.fail(fmt.Errorf("ip on %s: %q is not an IP address such as 10.20.0.5", net.Name(), addr))
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return s.fail(fmt.Errorf("ip on %s: %s cannot be a container's address", net.Name(), a))
	}
	i := slices.IndexFunc(s.networks, func(na netAttach) bool { return sameNetwork(na.net, net) })
	if i < 0 {
		s = s.On(net)
		i = len(s.networks) - 1
	}
	na := s.networks[i]
	cur := &na.ip4
	if a.Is6() {
		cur = &na.ip6
	}
	if cur.IsValid() && *cur != a {
		return s.fail(fmt.Errorf("ip on %s: %s given, and %s before it: one address per family", net.Name(), a, *cur))
	}
	if *cur == a {
		return s
	}
	*cur = a
	s.networks = slices.Clone(s.networks)
	s.networks[i] = na
	return s.withPrepare(func(ctx context.Context, _ Spec, eng *engine.Engine, _ *container.Config, _ *container.HostConfig, _ *dnetwork.NetworkingConfig) error {
		return checkStaticIP(ctx, eng, net, a)
	})
}

// checkStaticIP says, before the engine does in fewer words, when a lies outside the
// subnets of net or another container on net has it. The engine stays the judge: a
// container that takes the address between this check and the start makes the start
// fail with the engine's error.
func checkStaticIP(ctx context.Context, eng *engine.Engine, net *network.Network, a netip.Addr) error {
	res, err := eng.Client.NetworkInspect(ctx, net.ID(), dnetwork.InspectOptions{})
	if err != nil {
		return fmt.Errorf("ip %s on %s: inspect network: %w", a, net.Name(), err)
	}
	if res.Labels[engine.LabelSubnetPicked] == "true" {
		// The engine would take the address: to it the subnet is user-configured. It is
		// not the user's: the same test fails on a machine whose pools are not used up.
		return fmt.Errorf("ip %s on %s: %w: static addresses need user configured subnets, and this network's (%s) was picked by containertest because the engine's address pools were used up: create the network with network.Subnet",
			a, net.Name(), ErrAddressUnavailable, ipamSubnets(res.IPAM))
	}
	in := false
	for _, c := range res.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil {
			in = in || p.Contains(a)
		}
	}
	if !in {
		return fmt.Errorf("ip %s on %s: %w: not inside the network's subnets (%s)", a, net.Name(), ErrAddressUnavailable, ipamSubnets(res.IPAM))
	}
	for _, ep := range res.Containers {
		for _, cidr := range []string{ep.IPv4Address, ep.IPv6Address} {
			if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr() == a {
				return fmt.Errorf("ip %s on %s: %w: container %s has it", a, net.Name(), ErrAddressUnavailable, ep.Name)
			}
		}
	}
	return nil
}

// ipamSubnets lists the subnets of an IPAM configuration, comma-separated.
func ipamSubnets(ipam dnetwork.IPAM) string {
	var subnets []string
	for _, c := range ipam.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil {
			subnets = append(subnets, p.String())
		}
	}
	return strings.Join(subnets, ", ")
}

// ErrAddressUnavailable is wrapped when a static address (Spec.IP) cannot be given to
// the container: it is outside the network's subnets, or another container has it.
var ErrAddressUnavailable = errors.New("address unavailable")

// endpoint is the engine's endpoint configuration of the attachment.
func (na netAttach) endpoint() *dnetwork.EndpointSettings {
	es := &dnetwork.EndpointSettings{Aliases: na.aliases}
	if na.ip4.IsValid() || na.ip6.IsValid() {
		es.IPAMConfig = &dnetwork.EndpointIPAMConfig{}
		if na.ip4.IsValid() {
			es.IPAMConfig.IPv4Address = na.ip4.String()
		}
		if na.ip6.IsValid() {
			es.IPAMConfig.IPv6Address = na.ip6.String()
		}
	}
	return es
}
