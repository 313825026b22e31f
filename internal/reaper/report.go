package reaper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/nat"
	"github.com/containertest/containertest/internal/engine/docker/network"
)

// KeptInfo describes one kept resource for Report.
type KeptInfo struct {
	Ref
	// Name is the container, network or volume name.
	Name string
	// Labelled is true when the resource carries LabelKeep (CONTAINERTEST_KEEP=always).
	Labelled bool

	// The rest is for containers only.

	// Image is the image the container was created from, as asked for.
	Image string
	// State is the container's state, with the exit code and OOM kill when it exited:
	// "running", "exited (code 137, OOM killed)".
	State string
	// Networks are the container's networks, sorted by name.
	Networks []NetworkInfo
	// Endpoints are the published ports, "5432/tcp -> 127.0.0.1:49153", sorted.
	Endpoints []string
}

// NetworkInfo is a container's attachment to one network.
type NetworkInfo struct {
	Name    string
	IP      string
	Aliases []string
}

// Describe inspects refs for Report. Resources that cannot be inspected are left out
// and their errors joined; the rest is still returned.
func Describe(ctx context.Context, refs ...Ref) ([]KeptInfo, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe kept resources: %w", err)
	}
	var out []KeptInfo
	var errs []error
	for _, r := range refs {
		info, err := describe(ctx, e, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe %v: %w", r, err))
			continue
		}
		out = append(out, info)
	}
	return out, errors.Join(errs...)
}

func describe(ctx context.Context, e *engine.Engine, r Ref) (KeptInfo, error) {
	info := KeptInfo{Ref: r, Name: r.ID}
	var labels map[string]string
	switch r.Kind {
	case Container:
		c, err := e.Client.ContainerInspect(ctx, r.ID)
		if err != nil {
			return info, err
		}
		info.Name = strings.TrimPrefix(c.Name, "/")
		if c.Config != nil {
			info.Image = c.Config.Image
			labels = c.Config.Labels
		}
		if c.State != nil {
			info.State = c.State.Status
			if c.State.Status == "exited" || c.State.Status == "dead" {
				info.State += " (code " + strconv.Itoa(c.State.ExitCode)
				if c.State.OOMKilled {
					info.State += ", OOM killed"
				}
				info.State += ")"
			}
		}
		if c.NetworkSettings != nil {
			for name, ep := range c.NetworkSettings.Networks {
				info.Networks = append(info.Networks, networkInfo(name, c.ID, ep))
			}
			slices.SortFunc(info.Networks, func(a, b NetworkInfo) int { return cmp.Compare(a.Name, b.Name) })
			for port, bindings := range c.NetworkSettings.Ports {
				if ep := endpoint(e.Host, bindings); ep != "" {
					info.Endpoints = append(info.Endpoints, string(port)+" -> "+ep)
				}
			}
			slices.Sort(info.Endpoints)
		}
	case Network:
		n, err := e.Client.NetworkInspect(ctx, r.ID, network.InspectOptions{})
		if err != nil {
			return info, err
		}
		info.Name, labels = n.Name, n.Labels
	case Volume:
		v, err := e.Client.VolumeInspect(ctx, r.ID)
		if err != nil {
			return info, err
		}
		info.Name, labels = v.Name, v.Labels
	}
	_, info.Labelled = labels[engine.LabelKeep]
	return info, nil
}

func networkInfo(name, containerID string, ep *network.EndpointSettings) NetworkInfo {
	ni := NetworkInfo{Name: name}
	if ep == nil {
		return ni
	}
	ni.IP = ep.IPAddress
	if ni.IP == "" {
		ni.IP = ep.GlobalIPv6Address
	}
	for _, a := range ep.Aliases {
		// The engine adds the short container id as an alias; it says nothing.
		if len(a) >= 12 && strings.HasPrefix(containerID, a) {
			continue
		}
		ni.Aliases = append(ni.Aliases, a)
	}
	for _, a := range ep.DNSNames {
		if !slices.Contains(ni.Aliases, a) && !strings.HasPrefix(containerID, a) && a != ni.IP {
			ni.Aliases = append(ni.Aliases, a)
		}
	}
	return ni
}

// endpoint returns "host:port" for the first usable binding: bindings on all
// interfaces or loopback are reached at host (the engine's host for published ports).
func endpoint(host string, bindings []nat.PortBinding) string {
	var v6 string
	for _, b := range bindings {
		if b.HostPort == "" {
			continue
		}
		h := b.HostIP
		switch h {
		case "", "0.0.0.0", "127.0.0.1":
			return joinHostPort(host, b.HostPort)
		case "::", "::1":
			if v6 == "" {
				v6 = joinHostPort(host, b.HostPort)
			}
		default:
			return joinHostPort(h, b.HostPort)
		}
	}
	return v6
}

func joinHostPort(h, p string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + p
	}
	return h + ":" + p
}

// Report writes how to use and remove kept resources: per container its name, image,
// state, networks with IPs and aliases, endpoints, and the commands to get in and to
// follow its log; then the networks and volumes; then one command that removes them
// all. When some are labelled kept, it also prints the command that removes every
// labelled kept resource of every session.
func Report(w io.Writer, kept []KeptInfo) error {
	if len(kept) == 0 {
		return nil
	}
	var b strings.Builder
	counts := map[Kind]int{}
	for _, k := range kept {
		counts[k.Kind]++
	}
	var what []string
	for _, k := range []Kind{Container, Network, Volume} {
		if n := counts[k]; n > 0 {
			what = append(what, plural(n, k.String()))
		}
	}
	fmt.Fprintf(&b, "containertest: kept %s for debugging (%s=%s):\n", strings.Join(what, ", "), EnvKeep, KeepMode())
	byKind := func(k Kind) []KeptInfo {
		var out []KeptInfo
		for _, i := range kept {
			if i.Kind == k {
				out = append(out, i)
			}
		}
		return out
	}
	var labelled bool
	for _, c := range byKind(Container) {
		labelled = labelled || c.Labelled
		fmt.Fprintf(&b, "  container %s\n", c.Name)
		fmt.Fprintf(&b, "    image:    %s\n", c.Image)
		fmt.Fprintf(&b, "    state:    %s\n", c.State)
		for _, n := range c.Networks {
			fmt.Fprintf(&b, "    network:  %s ip %s", n.Name, orNone(n.IP))
			if len(n.Aliases) > 0 {
				fmt.Fprintf(&b, " aliases %s", strings.Join(n.Aliases, ", "))
			}
			b.WriteString("\n")
		}
		for _, ep := range c.Endpoints {
			fmt.Fprintf(&b, "    endpoint: %s\n", ep)
		}
		fmt.Fprintf(&b, "    get in:   docker exec -it %s sh\n", c.Name)
		fmt.Fprintf(&b, "    logs:     docker logs -f %s\n", c.Name)
	}
	for _, k := range []Kind{Network, Volume} {
		for _, i := range byKind(k) {
			labelled = labelled || i.Labelled
			fmt.Fprintf(&b, "  %s %s\n", k, i.Name)
		}
	}
	var cmds []string
	for _, k := range []struct {
		kind Kind
		cmd  string
	}{{Container, "docker rm -f -v"}, {Network, "docker network rm"}, {Volume, "docker volume rm"}} {
		var names []string
		for _, i := range byKind(k.kind) {
			names = append(names, i.Name)
		}
		if len(names) > 0 {
			cmds = append(cmds, k.cmd+" "+strings.Join(names, " "))
		}
	}
	fmt.Fprintf(&b, "  remove them: %s\n", strings.Join(cmds, "; "))
	if labelled {
		fmt.Fprintf(&b, "  remove every kept resource of every run: %s\n", RemoveAllKeptCommand)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RemoveAllKeptCommand is a shell command that removes every resource labelled kept
// (CONTAINERTEST_KEEP=always) on the engine the docker CLI talks to.
const RemoveAllKeptCommand = "docker ps -aq --filter label=" + engine.LabelKeep + " | xargs -r docker rm -f -v; " +
	"docker network ls -q --filter label=" + engine.LabelKeep + " | xargs -r docker network rm; " +
	"docker volume ls -q --filter label=" + engine.LabelKeep + " | xargs -r docker volume rm"

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return strconv.Itoa(n) + " " + s + "s"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
