package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// containerIDRe matches a full container id in a path.
var containerIDRe = regexp.MustCompile(`(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

// selfContainerID returns the id of the container this process runs in, from facts the
// engine leaves: the engine bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf
// from its containers/<id>/ directory (mountinfo), and puts the container's processes in
// a cgroup named after it (cgroup v1 ".../docker/<id>", systemd "docker-<id>.scope").
// It returns "" when neither names one. A match is only a candidate: the engine is asked
// whether it knows the id (an id of another engine, such as the one running a CI job's
// machine, is not this engine's container). /.dockerenv is never read.
func selfContainerID(mountinfo, cgroup []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		switch f[4] { // the mount point
		case "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
		default:
			continue
		}
		root := f[3]
		i := strings.LastIndex(root, "/containers/")
		if i < 0 {
			continue
		}
		if m := containerIDRe.FindStringSubmatch(root[i+len("/containers"):]); m != nil {
			return m[1]
		}
	}
	sc = bufio.NewScanner(bytes.NewReader(cgroup))
	for sc.Scan() {
		// hierarchy-id:controllers:path
		_, path, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		_, path, _ = strings.Cut(path, ":")
		if m := containerIDRe.FindStringSubmatch(path); m != nil {
			return m[1]
		}
	}
	return ""
}

// A containerView is what the engine says about the container this process runs in.
type containerView struct {
	ID          string
	NetworkMode string
	// Gateways maps each network the container is on to its gateway: the engine host's
	// address on that network.
	Gateways map[string]string
}

// publishAddr chooses where ports published by an engine on this machine are reached
// from inside container v, and the host address to bind them to: with the host's
// network, the loopback address as on the host; otherwise the gateway of the
// container's first network (by name, "bridge" first), which is the engine host's own
// address on a bridge this container is attached to. Nothing is published on all
// interfaces. It returns an error when the container has no network with a gateway.
func publishAddr(v containerView) (host string, err error) {
	if v.NetworkMode == "host" {
		return "127.0.0.1", nil
	}
	names := make([]string, 0, len(v.Gateways))
	for n, gw := range v.Gateways {
		if gw != "" {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "bridge") != (names[j] == "bridge") {
			return names[i] == "bridge"
		}
		return names[i] < names[j]
	})
	if len(names) == 0 {
		return "", fmt.Errorf("container %.12s (network mode %q) is on no network with a gateway: published ports cannot be reached from it; set CONTAINERTEST_HOST", v.ID, v.NetworkMode)
	}
	return v.Gateways[names[0]], nil
}

// ErrHostUnreachable is wrapped when the address chosen for published ports does not
// answer a dial from this process.
var ErrHostUnreachable = errors.New("published ports are unreachable")

// readSelf reads the files selfContainerID needs; missing files read as empty.
func readSelf() (mountinfo, cgroup []byte) {
	mountinfo, _ = os.ReadFile("/proc/self/mountinfo")
	cgroup, _ = os.ReadFile("/proc/self/cgroup")
	return mountinfo, cgroup
}

// inspectSelf asks the engine about container id; it returns nil, nil when the engine
// does not know it (this process is not in one of its containers).
func inspectSelf(ctx context.Context, cli *client.Client, id string) (*containerView, error) {
	info, err := cli.ContainerInspect(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect own container %.12s: %w", id, err)
	}
	v := &containerView{ID: info.ID, Gateways: map[string]string{}}
	if info.HostConfig != nil {
		v.NetworkMode = string(info.HostConfig.NetworkMode)
	}
	if info.NetworkSettings != nil {
		for n, ep := range info.NetworkSettings.Networks {
			if ep != nil {
				v.Gateways[n] = ep.Gateway
			}
		}
	}
	return v, nil
}

// checkReach dials host once on a port of the engine host: an answer either way (a
// connection, or a refusal, which only the host itself sends) proves a route to an
// address the engine host owns; no answer within the timeout means a firewall or no
// route in between.
func checkReach(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	// Port 9 (discard): no test publishes there, since published ports are ephemeral.
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, "9"))
	if err == nil {
		c.Close()
		return nil
	}
	if isRefused(err) {
		return nil
	}
	return fmt.Errorf("%w at %s from this container: %w; set CONTAINERTEST_HOST to an address of the engine host that this container reaches", ErrHostUnreachable, host, err)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
