package network

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/containertest/containertest/internal/engine"
)

// An Option configures a network made by New or Create.
type Option func(*config)

type config struct {
	driver               string
	internal, attachable bool
	subnet               netip.Prefix
	gateway              netip.Addr
	ipRange              netip.Prefix
	labels               map[string]string
	driverOpts           map[string]string
	// err is the first malformed option; Create reports it.
	err error
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Internal makes a network without a route out: containers on it reach each other but
// nothing beyond it, and nothing outside reaches them except through published ports
// of their other networks.
func Internal() Option {
	return func(c *config) { c.internal = true }
}

// Attachable lets standalone containers join a swarm-scoped (overlay) network. It has
// no effect on a bridge network.
func Attachable() Option {
	return func(c *config) { c.attachable = true }
}

// Subnet gives the network an explicit subnet in CIDR notation, such as "10.10.0.0/24"
// or "fd00:10::/64" (which also enables IPv6). Create fails with ErrInvalidOption when
// cidr is malformed, has host bits set, or leaves no room for containers, and with
// the engine's error, naming the other network, when it overlaps an existing one.
// Without Subnet the engine picks one (and this package when the engine's pools are used up).
func Subnet(cidr string) Option {
	return func(c *config) {
		p, err := parseSubnet(cidr)
		if err != nil {
			c.fail(err)
			return
		}
		c.subnet = p
	}
}

func parseSubnet(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: subnet %q is not in CIDR notation such as 10.10.0.0/24: %v", ErrInvalidOption, cidr, err)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%w: subnet %q is an IPv4-mapped IPv6 prefix; write it as IPv4", ErrInvalidOption, cidr)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%w: subnet %q has host bits set; did you mean %s?", ErrInvalidOption, cidr, m)
	}
	// A network needs a gateway and at least one container address besides the
	// network (and, for IPv4, broadcast) address.
	if maxBits := p.Addr().BitLen() - 2; p.Bits() > maxBits {
		return netip.Prefix{}, fmt.Errorf("%w: subnet %q leaves no room for containers: use /%d or shorter", ErrInvalidOption, cidr, maxBits)
	}
	return p, nil
}

// Gateway sets the gateway address of the network's subnet ("10.10.0.254"), instead of
// the engine's choice (the subnet's first address). It needs Subnet: Create fails with
// ErrInvalidOption when there is none, when addr is not an address inside it, or when it
// is the subnet's own network or broadcast address. On a bridge network the gateway is
// the host's address on that network: what containers reach the host by (see
// containers.Spec.HostAccess).
func Gateway(addr string) Option {
	return func(c *config) {
		a, err := netip.ParseAddr(strings.TrimSpace(addr))
		if err != nil || a.Zone() != "" {
			c.fail(fmt.Errorf("%w: gateway %q is not an IP address such as 10.10.0.254", ErrInvalidOption, addr))
			return
		}
		c.gateway = a.Unmap()
	}
}

// IPRange narrows the addresses the engine assigns to containers to cidr, a part of
// Subnet ("10.10.0.128/25"), so that the rest of the subnet is free for static addresses
// (containers.Spec.IP). It needs Subnet: Create fails with ErrInvalidOption when there is
// none, when cidr is malformed, or when it is not inside the subnet.
func IPRange(cidr string) Option {
	return func(c *config) {
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			c.fail(fmt.Errorf("%w: ip range %q is not in CIDR notation such as 10.10.0.128/25: %v", ErrInvalidOption, cidr, err))
			return
		}
		if m := p.Masked(); m != p {
			c.fail(fmt.Errorf("%w: ip range %q has host bits set; did you mean %s?", ErrInvalidOption, cidr, m))
			return
		}
		c.ipRange = p
	}
}

// checkIPAM checks Gateway and IPRange against Subnet.
func (c *config) checkIPAM() error {
	if !c.gateway.IsValid() && !c.ipRange.IsValid() {
		return nil
	}
	if !c.subnet.IsValid() {
		return fmt.Errorf("%w: Gateway and IPRange need a Subnet to belong to", ErrInvalidOption)
	}
	if g := c.gateway; g.IsValid() {
		if !c.subnet.Contains(g) {
			return fmt.Errorf("%w: gateway %s is not inside subnet %s", ErrInvalidOption, g, c.subnet)
		}
		if g == c.subnet.Addr() {
			return fmt.Errorf("%w: gateway %s is the network address of subnet %s", ErrInvalidOption, g, c.subnet)
		}
		if g.Is4() && g == lastAddr(c.subnet) {
			return fmt.Errorf("%w: gateway %s is the broadcast address of subnet %s", ErrInvalidOption, g, c.subnet)
		}
	}
	if r := c.ipRange; r.IsValid() {
		if r.Addr().Is4() != c.subnet.Addr().Is4() || r.Bits() < c.subnet.Bits() || !c.subnet.Contains(r.Addr()) {
			return fmt.Errorf("%w: ip range %s is not inside subnet %s", ErrInvalidOption, r, c.subnet)
		}
	}
	return nil
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Label adds a label to the network. The framework's own labels (prefix
// "org.containertest.") are always present and cannot be set.
func Label(key, value string) Option {
	return func(c *config) {
		if err := engine.CheckLabel(key); err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrInvalidOption, err))
			return
		}
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		c.labels[key] = value
	}
}

// Driver chooses the network driver; the default is "bridge".
func Driver(name string) Option {
	return func(c *config) {
		if strings.TrimSpace(name) == "" {
			c.fail(fmt.Errorf("%w: empty driver name", ErrInvalidOption))
			return
		}
		c.driver = name
	}
}

// DriverOpt passes a driver-specific option, such as
// "com.docker.network.bridge.enable_icc"="false" for the bridge driver. An option the
// engine accepts but does not keep (podman drops those it does not know) fails Create
// with an error that wraps errors.ErrUnsupported and names it, and no network is left.
func DriverOpt(key, value string) Option {
	return func(c *config) {
		if key == "" {
			c.fail(fmt.Errorf("%w: empty driver option key", ErrInvalidOption))
			return
		}
		if c.driverOpts == nil {
			c.driverOpts = map[string]string{}
		}
		c.driverOpts[key] = value
	}
}
