package containers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-units"

	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/internal/engine/docker/nat"
)

// This file holds the Spec settings that Compose files need beyond the core ones
// (hostname, extra hosts, capabilities, init, ulimits, ...), and StartFor, which
// starts a container for a test from any goroutine.

// StartFor is Start for code that does not run on the test's goroutine (it must not
// call t.Fatal there): it returns the error instead of failing t. The container
// belongs to t as with Start: it is removed when t ends, after a diagnosis when t
// failed, and on error whatever was created is removed then too.
func (s Spec) StartFor(ctx context.Context, t testing.TB) (*Container, error) {
	if t == nil {
		return nil, errors.New("start for: nil testing.TB (use Run)")
	}
	c, err := s.start(ctx, t)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Hostname sets the container's host name (by default the engine uses the first 12
// characters of its id).
func (s Spec) Hostname(name string) Spec {
	if !validHostname(name) {
		return s.fail(fmt.Errorf("invalid hostname %q", name))
	}
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.Hostname = name })
}

// DomainName sets the container's NIS domain name.
func (s Spec) DomainName(name string) Spec {
	if !validHostname(name) {
		return s.fail(fmt.Errorf("invalid domain name %q", name))
	}
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.Domainname = name })
}

func validHostname(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// ExtraHost adds a line "ip host" to the container's /etc/hosts. ip may be the
// literal "host-gateway", which the engine replaces with the host's address.
func (s Spec) ExtraHost(host, ip string) Spec {
	if !validHostname(host) {
		return s.fail(fmt.Errorf("extra host: invalid host name %q", host))
	}
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return s.fail(fmt.Errorf("extra host %s: invalid ip address %q", host, ip))
		}
	}
	entry := host + ":" + ip
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) {
		hc.ExtraHosts = append(hc.ExtraHosts, entry)
	})
}

// CapAdd adds Linux capabilities ("NET_ADMIN" or "CAP_NET_ADMIN", or "ALL").
func (s Spec) CapAdd(caps ...string) Spec {
	cs, err := checkCaps(caps)
	if err != nil {
		return s.fail(fmt.Errorf("cap add: %w", err))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.CapAdd = append(hc.CapAdd, cs...) })
}

// CapDrop drops Linux capabilities ("NET_RAW", or "ALL").
func (s Spec) CapDrop(caps ...string) Spec {
	cs, err := checkCaps(caps)
	if err != nil {
		return s.fail(fmt.Errorf("cap drop: %w", err))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.CapDrop = append(hc.CapDrop, cs...) })
}

func checkCaps(caps []string) ([]string, error) {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		u := strings.ToUpper(strings.TrimSpace(c))
		name := strings.TrimPrefix(u, "CAP_")
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') }) >= 0 {
			return nil, fmt.Errorf("invalid capability %q", c)
		}
		out = append(out, u)
	}
	return out, nil
}

// Init runs an init process (the engine's docker-init) as PID 1 that reaps zombies
// and forwards signals to the container's process.
func (s Spec) Init() Spec {
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.Init = &[]bool{true}[0] })
}

// Ulimit sets a resource limit of the container's processes, such as "nofile" or
// "nproc", with a soft and a hard value (soft <= hard).
func (s Spec) Ulimit(name string, soft, hard int64) Spec {
	if _, err := units.ParseUlimit(fmt.Sprintf("%s=%d:%d", name, soft, hard)); err != nil {
		return s.fail(fmt.Errorf("ulimit %s: %w", name, err))
	}
	u := &container.Ulimit{Name: name, Soft: soft, Hard: hard}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.Ulimits = append(hc.Ulimits, u) })
}

// ExposeUnpublished declares container ports (as EXPOSE in a Dockerfile) without
// publishing them on the host: other containers on its networks reach them, the
// host does not. Compose's "expose" key.
func (s Spec) ExposeUnpublished(ports ...string) Spec {
	var ps []nat.Port
	for _, p := range ports {
		np, err := normalizePort(p)
		if err != nil {
			return s.fail(err)
		}
		ps = append(ps, nat.Port(np))
	}
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
		}
		for _, p := range ps {
			cfg.ExposedPorts[p] = struct{}{}
		}
	})
}

// AnonymousVolume mounts a new anonymous volume at target; it is removed with the
// container.
func (s Spec) AnonymousVolume(target string) Spec {
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("anonymous volume: %w", err))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: target})
	})
}

// StopSignal sets the signal that stops the container gracefully ("SIGQUIT"),
// replacing the image's STOPSIGNAL.
func (s Spec) StopSignal(signal string) Spec {
	if strings.TrimSpace(signal) == "" {
		return s.fail(fmt.Errorf("invalid stop signal %q: want a name such as SIGTERM or a number", signal))
	}
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.StopSignal = signal })
}

// ShmSize sets the size of /dev/shm in bytes (the engine's default is 64 MiB).
func (s Spec) ShmSize(bytes int64) Spec {
	if bytes <= 0 {
		return s.fail(fmt.Errorf("shm size %d: must be positive", bytes))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.ShmSize = bytes })
}

// Sysctl sets a namespaced kernel parameter in the container ("net.core.somaxconn").
func (s Spec) Sysctl(key, value string) Spec {
	if key == "" || strings.ContainsAny(key, " =") {
		return s.fail(fmt.Errorf("invalid sysctl name %q", key))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) {
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[key] = value
	})
}

// DNS sets the DNS servers of the container.
func (s Spec) DNS(servers ...string) Spec {
	for _, d := range servers {
		if _, err := netip.ParseAddr(d); err != nil {
			return s.fail(fmt.Errorf("dns: invalid server address %q", d))
		}
	}
	servers = slices.Clone(servers)
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.DNS = append(hc.DNS, servers...) })
}

// DNSSearch sets the DNS search domains of the container.
func (s Spec) DNSSearch(domains ...string) Spec {
	domains = slices.Clone(domains)
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.DNSSearch = append(hc.DNSSearch, domains...) })
}

// DNSOption sets resolver options of the container ("ndots:2").
func (s Spec) DNSOption(opts ...string) Spec {
	opts = slices.Clone(opts)
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.DNSOptions = append(hc.DNSOptions, opts...) })
}

// SecurityOpt sets security options ("no-new-privileges:true", "seccomp=unconfined").
func (s Spec) SecurityOpt(opts ...string) Spec {
	opts = slices.Clone(opts)
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.SecurityOpt = append(hc.SecurityOpt, opts...) })
}

// GroupAdd adds supplementary groups (names or ids) to the container's process.
func (s Spec) GroupAdd(groups ...string) Spec {
	groups = slices.Clone(groups)
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.GroupAdd = append(hc.GroupAdd, groups...) })
}

// TTY allocates a pseudo terminal for the container's process; with stdinOpen its
// standard input stays open.
func (s Spec) TTY(stdinOpen bool) Spec {
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) {
		cfg.Tty = true
		cfg.OpenStdin = stdinOpen
	})
}

// StdinOpen keeps the container's standard input open (docker run -i).
func (s Spec) StdinOpen() Spec {
	return s.Modify(func(cfg *container.Config, _ *container.HostConfig) { cfg.OpenStdin = true })
}

// PidsLimit limits the number of processes in the container.
func (s Spec) PidsLimit(n int64) Spec {
	if n <= 0 {
		return s.fail(fmt.Errorf("pids limit %d: must be positive", n))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.PidsLimit = &n })
}

// MemoryReservation sets a soft memory limit in bytes, below the Memory limit.
func (s Spec) MemoryReservation(bytes int64) Spec {
	if bytes <= 0 {
		return s.fail(fmt.Errorf("memory reservation %d: must be positive", bytes))
	}
	return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.MemoryReservation = bytes })
}
