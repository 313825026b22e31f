package containers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Info is what Inspect reports about a container.
type Info struct {
	ID, Name string
	// Image is the reference the container was started from; ImageID its content id.
	Image, ImageID string
	// State is "created", "running", "paused", "restarting", "exited" or "dead".
	State     string
	Running   bool
	Paused    bool
	ExitCode  int
	OOMKilled bool
	// Error is the engine's error message for a container that failed to start.
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is nil when the container has no health check.
	Health   *HealthInfo
	Networks map[string]NetworkInfo
	Mounts   []MountInfo
	Env      []string
	Labels   map[string]string
	// Ports maps "8080/tcp" to the host port it is published on.
	Ports map[string]int
}

// HealthInfo is a container's health check state.
type HealthInfo struct {
	Status        string // "starting", "healthy" or "unhealthy"
	FailingStreak int
	Log           []HealthProbe
}

// HealthProbe is one run of the health check.
type HealthProbe struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// NetworkInfo is a container's attachment to one network.
type NetworkInfo struct {
	IP      string
	Aliases []string
	Gateway string
}

// MountInfo is one mount of a container.
type MountInfo struct {
	Type        string // "volume", "bind" or "tmpfs"
	Source      string // volume name or host path
	Destination string
	ReadOnly    bool
}

// Inspect asks the engine for the container's current state.
func (c *Container) Inspect(ctx context.Context) (Info, error) {
	r, err := c.eng.Client.ContainerInspect(ctx, c.id)
	if err != nil {
		return Info{}, c.wrap("inspect", err)
	}
	info := Info{
		ID:      r.ID,
		Name:    strings.TrimPrefix(r.Name, "/"),
		Image:   c.image,
		ImageID: r.Image,
		Ports:   map[string]int{},
	}
	if st := r.State; st != nil {
		info.State, info.Running, info.Paused = st.Status, st.Running, st.Paused
		info.ExitCode, info.OOMKilled, info.Error = st.ExitCode, st.OOMKilled, st.Error
		info.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		info.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
		// Podman reports a Health with no status for a container without a check.
		if h := st.Health; h != nil && (h.Status != "" || len(h.Log) > 0) {
			hi := &HealthInfo{Status: h.Status, FailingStreak: h.FailingStreak}
			for _, p := range h.Log {
				if p == nil {
					continue
				}
				hi.Log = append(hi.Log, HealthProbe{Start: p.Start, End: p.End, ExitCode: p.ExitCode, Output: p.Output})
			}
			info.Health = hi
		}
	}
	if r.Config != nil {
		info.Env = r.Config.Env
		info.Labels = r.Config.Labels
	}
	if ns := r.NetworkSettings; ns != nil {
		info.Networks = map[string]NetworkInfo{}
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			info.Networks[name] = NetworkInfo{IP: ep.IPAddress, Aliases: ep.Aliases, Gateway: ep.Gateway}
		}
		for p, bs := range ns.Ports {
			for _, b := range bs {
				var n int
				if _, err := fmt.Sscan(b.HostPort, &n); err == nil {
					info.Ports[string(p)] = n
					break
				}
			}
		}
	}
	for _, m := range r.Mounts {
		src := m.Source
		if m.Name != "" {
			src = m.Name
		}
		info.Mounts = append(info.Mounts, MountInfo{Type: string(m.Type), Source: src, Destination: m.Destination, ReadOnly: !m.RW})
	}
	return info, nil
}

// diagnosis formats what an engineer needs to see about a container of a failed test.
func (c *Container) diagnosis(ctx context.Context) string {
	var b strings.Builder
	fmt.Fprintf(&b, "container %s (%s, image %s):\n", c.name, shortID(c.id), c.image)
	info, err := c.Inspect(ctx)
	if err != nil {
		fmt.Fprintf(&b, "\tinspect: %v\n", err)
	} else {
		fmt.Fprintf(&b, "\tstate: %s", info.State)
		if !info.Running && info.State != "created" {
			fmt.Fprintf(&b, ", exit code %d", info.ExitCode)
		}
		if info.OOMKilled {
			b.WriteString(", killed: out of memory")
		}
		if info.Error != "" {
			fmt.Fprintf(&b, ", error: %s", info.Error)
		}
		b.WriteString("\n")
		if h := info.Health; h != nil {
			fmt.Fprintf(&b, "\thealth: %s (failing streak %d)\n", h.Status, h.FailingStreak)
			for _, p := range h.Log[max(0, len(h.Log)-3):] {
				fmt.Fprintf(&b, "\t\tprobe exit %d: %s\n", p.ExitCode, strings.TrimSpace(p.Output))
			}
		}
		names := make([]string, 0, len(info.Networks))
		for n := range info.Networks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ni := info.Networks[n]
			fmt.Fprintf(&b, "\tnetwork %s: ip %s", n, orNone(ni.IP))
			if len(ni.Aliases) > 0 {
				fmt.Fprintf(&b, ", aliases %s", strings.Join(ni.Aliases, ", "))
			}
			b.WriteString("\n")
		}
		for p, hp := range info.Ports {
			fmt.Fprintf(&b, "\tport %s -> %s:%d\n", p, c.Host(), hp)
		}
		for _, m := range info.Mounts {
			ro := ""
			if m.ReadOnly {
				ro = " (read-only)"
			}
			fmt.Fprintf(&b, "\tmount %s %s -> %s%s\n", m.Type, m.Source, m.Destination, ro)
		}
	}
	logs, err := c.LogTail(ctx, 50)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "\tlogs: %v\n", err)
	case strings.TrimSpace(logs) == "":
		b.WriteString("\tlogs: (empty)\n")
	default:
		b.WriteString("\tlast 50 log lines:\n\t\t")
		b.WriteString(strings.ReplaceAll(strings.TrimRight(logs, "\n"), "\n", "\n\t\t"))
		b.WriteString("\n")
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// beforeRemove runs at the end of the test, before removal: it logs a diagnosis when
// the test failed. Keeping for debugging (CONTAINERTEST_KEEP) is decided by the scope.
func (c *Container) beforeRemove(ctx context.Context, failed bool) (keep bool) {
	if failed && c.t != nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.logf("containers: test failed; %s", c.diagnosis(dctx))
		cancel()
	}
	return false
}
