package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
)

// Compose's labels, which docker compose uses to find a project's resources.
const (
	labelProject    = "com.docker.compose.project"
	labelService    = "com.docker.compose.service"
	labelNumber     = "com.docker.compose.container-number"
	labelOneoff     = "com.docker.compose.oneoff"
	labelNetwork    = "com.docker.compose.network"
	labelVolume     = "com.docker.compose.volume"
	labelWorkingDir = "com.docker.compose.project.working_dir"
	labelFiles      = "com.docker.compose.project.config_files"
)

// resources are the stack's networks and volumes, by their names in the file. The
// zero value checks a service without attaching any (see validate).
type resources struct {
	networks map[string]*network.Network
	volumes  map[string]*volume.Volume
	external map[string]string
}

// serviceSpec maps one service (its container number n) onto a Spec.
func serviceSpec(proj *types.Project, name string, s types.ServiceConfig, n int, res resources) (containers.Spec, error) {
	wrap := func(err error) error { return fmt.Errorf("service %s: %w", name, err) }
	var spec containers.Spec
	if s.Build == nil && s.Image != "" {
		// Another service may build the image this one names: docker compose tags the
		// built image with its image key. The build cache builds it once for both.
		for _, other := range sortedKeys(proj.Services) {
			if o := proj.Services[other]; o.Build != nil && o.Image == s.Image {
				s.Build, s.Platform = o.Build, o.Platform
				break
			}
		}
	}
	switch {
	case s.Build != nil:
		b := s.Build
		spec = containers.Build(b.Context)
		if b.Dockerfile != "" {
			spec = spec.Dockerfile(b.Dockerfile)
		}
		for _, k := range sortedKeys(b.Args) {
			if v := b.Args[k]; v != nil {
				spec = spec.BuildArg(k, *v)
			}
		}
		if b.Target != "" {
			spec = spec.Target(b.Target)
		}
		if b.NoCache {
			spec = spec.NoCache()
		}
		for _, k := range sortedKeys(b.Labels) {
			spec = spec.BuildLabel(k, b.Labels[k])
		}
		switch {
		case s.Platform != "":
			spec = spec.Platform(s.Platform)
		case len(b.Platforms) == 1:
			spec = spec.Platform(b.Platforms[0])
		case len(b.Platforms) > 1:
			return spec, wrap(fmt.Errorf("%w: build.platforms with more than one platform", ErrUnsupported))
		}
		for _, r := range b.Secrets {
			var err error
			if spec, err = buildSecret(proj, spec, r); err != nil {
				return spec, wrap(err)
			}
		}
		if b.Pull {
			// The build cache keys on the base images' ids, so a pulled newer base
			// would rebuild; pulling is the containers package's PullAlways.
			spec = spec.Pull(containers.PullAlways)
		}
	case s.Image != "":
		spec = containers.Image(s.Image)
	default:
		return spec, wrap(fmt.Errorf("%w: neither image nor build", ErrInvalid))
	}
	switch s.PullPolicy {
	case "", types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyBuild:
	case types.PullPolicyAlways:
		spec = spec.Pull(containers.PullAlways)
	case types.PullPolicyNever:
		spec = spec.Pull(containers.PullNever)
	default:
		return spec, wrap(fmt.Errorf("%w: pull_policy %q", ErrUnsupported, s.PullPolicy))
	}

	if s.ContainerName != "" {
		spec = spec.Named(s.ContainerName)
	}
	if s.Command != nil {
		spec = spec.Cmd(s.Command...)
	}
	if s.Entrypoint != nil {
		spec = spec.Entrypoint(s.Entrypoint...)
	}
	// environment, with env_file already merged in by the loader; a variable without
	// a value that the environment does not define is left out, as docker compose does.
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil {
			spec = spec.Env(k, *v)
		}
	}
	for _, k := range sortedKeys(s.Labels) {
		spec = spec.Label(k, s.Labels[k])
	}
	spec = spec.Label(labelProject, proj.Name).
		Label(labelService, name).
		Label(labelNumber, strconv.Itoa(n)).
		Label(labelOneoff, "False").
		Label(labelWorkingDir, proj.WorkingDir).
		Label(labelFiles, strings.Join(proj.ComposeFiles, ","))

	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		spec = spec.Expose(fmt.Sprintf("%d/%s", p.Target, proto))
	}
	for _, e := range s.Expose {
		spec = spec.ExposeUnpublished(e)
	}

	var err error
	if spec, err = mapVolumes(spec, s, proj, res); err != nil {
		return spec, wrap(err)
	}
	if spec, err = mapNetworks(spec, name, s, res); err != nil {
		return spec, wrap(err)
	}
	if h := s.HealthCheck; h != nil {
		hc := health(h)
		if len(hc.Test) > 0 {
			spec = spec.HealthCheck(hc)
		}
		var startInterval time.Duration
		if h.StartInterval != nil {
			startInterval = time.Duration(*h.StartInterval)
		}
		if len(hc.Test) == 0 || startInterval > 0 {
			// Only timings: the engine keeps the image's test when Test is empty.
			spec = spec.Modify(func(cfg *container.Config, _ *container.HostConfig) {
				if cfg.Healthcheck == nil {
					cfg.Healthcheck = &container.HealthConfig{Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, Retries: hc.Retries}
				}
				cfg.Healthcheck.StartInterval = startInterval
			})
		}
	}
	if spec, err = mapFiles(spec, s, proj); err != nil {
		return spec, wrap(err)
	}
	if spec, err = mapDeploy(spec, s); err != nil {
		return spec, wrap(err)
	}
	return mapRuntime(spec, s)
}

// mapFiles copies secrets (to /run/secrets/NAME by default) and configs (to /NAME)
// into the container before it starts.
func mapFiles(spec containers.Spec, s types.ServiceConfig, proj *types.Project) (containers.Spec, error) {
	type ref struct {
		kind, dir string
		r         types.FileReferenceConfig
		obj       map[string]types.FileObjectConfig
	}
	secrets := map[string]types.FileObjectConfig{}
	for k, v := range proj.Secrets {
		secrets[k] = types.FileObjectConfig(v)
	}
	configs := map[string]types.FileObjectConfig{}
	for k, v := range proj.Configs {
		configs[k] = types.FileObjectConfig(v)
	}
	if s.ReadOnly && len(s.Secrets)+len(s.Configs) > 0 {
		// They are copied into the container's filesystem before it starts, which a
		// read-only root refuses.
		return spec, fmt.Errorf("%w: secrets or configs together with read_only", ErrUnsupported)
	}
	var refs []ref
	for _, r := range s.Secrets {
		refs = append(refs, ref{"secret", "/run/secrets", types.FileReferenceConfig(r), secrets})
	}
	for _, r := range s.Configs {
		refs = append(refs, ref{"config", "/", types.FileReferenceConfig(r), configs})
	}
	for _, r := range refs {
		obj, ok := r.obj[r.r.Source]
		if !ok {
			return spec, fmt.Errorf("%w: %s %q is not declared at the top level", ErrInvalid, r.kind, r.r.Source)
		}
		var content []byte
		switch {
		case bool(obj.External):
			return spec, fmt.Errorf("%w: external %s %q", ErrUnsupported, r.kind, r.r.Source)
		case obj.File != "":
			f := obj.File
			if !filepath.IsAbs(f) {
				f = filepath.Join(proj.WorkingDir, f)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return spec, fmt.Errorf("%w: %s %s: %w", ErrInvalid, r.kind, r.r.Source, err)
			}
			content = b
		case obj.Environment != "":
			v, ok := proj.Environment[obj.Environment]
			if !ok {
				return spec, fmt.Errorf("%w: %s %s: variable %s is not set", ErrInvalid, r.kind, r.r.Source, obj.Environment)
			}
			content = []byte(v)
		default:
			content = []byte(obj.Content)
		}
		target := r.r.Target
		if target == "" {
			target = r.r.Source
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(r.dir, target)
		}
		mode := os.FileMode(0o444)
		if r.r.Mode != nil {
			mode = os.FileMode(*r.r.Mode)
		}
		spec = spec.File(target, content, mode)
	}
	return spec, nil
}

// mapDeploy maps deploy.resources and deploy.restart_policy (replicas: see replicas).
func mapDeploy(spec containers.Spec, s types.ServiceConfig) (containers.Spec, error) {
	d := s.Deploy
	if d == nil {
		return spec, nil
	}
	if l := d.Resources.Limits; l != nil {
		if l.NanoCPUs > 0 {
			spec = spec.CPUs(float64(l.NanoCPUs))
		}
		if l.MemoryBytes > 0 {
			spec = spec.Memory(int64(l.MemoryBytes))
		}
		if l.Pids > 0 {
			spec = spec.PidsLimit(l.Pids)
		}
	}
	if r := d.Resources.Reservations; r != nil && r.MemoryBytes > 0 {
		spec = spec.MemoryReservation(int64(r.MemoryBytes))
	}
	if rp := d.RestartPolicy; rp != nil {
		var p container.RestartPolicy
		switch rp.Condition {
		case "none":
			p.Name = container.RestartPolicyDisabled
		case "on-failure":
			p.Name = container.RestartPolicyOnFailure
			if rp.MaxAttempts != nil {
				p.MaximumRetryCount = int(*rp.MaxAttempts)
			}
		case "any", "":
			p.Name = container.RestartPolicyAlways
		default:
			return spec, fmt.Errorf("%w: deploy.restart_policy.condition %q: want none, on-failure or any", ErrInvalid, rp.Condition)
		}
		spec = spec.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.RestartPolicy = p })
	}
	return spec, nil
}

func health(h *types.HealthCheckConfig) containers.Health {
	if h.Disable {
		return containers.Health{Test: []string{"NONE"}}
	}
	out := containers.Health{Test: slices.Clone(h.Test)}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

func mapVolumes(spec containers.Spec, s types.ServiceConfig, proj *types.Project, res resources) (containers.Spec, error) {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				spec = spec.AnonymousVolume(v.Target)
				continue
			}
			if res.volumes == nil {
				continue
			}
			if ext, ok := res.external[v.Source]; ok {
				m := mount.Mount{Type: mount.TypeVolume, Source: ext, Target: v.Target, ReadOnly: v.ReadOnly}
				if v.Volume != nil && v.Volume.NoCopy {
					m.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
				}
				spec = spec.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.Mounts = append(hc.Mounts, m) })
				continue
			}
			vol, ok := res.volumes[v.Source]
			if !ok {
				return spec, fmt.Errorf("%w: volume %q is not declared under the top-level volumes", ErrInvalid, v.Source)
			}
			spec = spec.Mount(vol, v.Target)
			ro := v.ReadOnly
			var noCopy bool
			if v.Volume != nil {
				noCopy = v.Volume.NoCopy
			}
			if ro || noCopy {
				target := v.Target
				spec = spec.Modify(func(_ *container.Config, hc *container.HostConfig) {
					for i := range hc.Mounts {
						m := &hc.Mounts[i]
						if m.Target != target {
							continue
						}
						m.ReadOnly = ro
						if noCopy {
							if m.VolumeOptions == nil {
								m.VolumeOptions = &mount.VolumeOptions{}
							}
							m.VolumeOptions.NoCopy = true
						}
					}
				})
			}
		case types.VolumeTypeBind:
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(proj.WorkingDir, src)
			}
			var opts []containers.MountOption
			if v.ReadOnly {
				opts = append(opts, containers.ReadOnlyMount())
			}
			spec = spec.Bind(src, v.Target, opts...)
		case types.VolumeTypeTmpfs:
			var opts []containers.MountOption
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				opts = append(opts, containers.TmpfsSize(int64(v.Tmpfs.Size)))
			}
			spec = spec.Tmpfs(v.Target, opts...)
			if v.Tmpfs != nil && v.Tmpfs.Mode != 0 {
				target, mode := v.Target, v.Tmpfs.Mode
				spec = spec.Modify(func(_ *container.Config, hc *container.HostConfig) {
					for i := range hc.Mounts {
						if m := &hc.Mounts[i]; m.Target == target && m.TmpfsOptions != nil {
							m.TmpfsOptions.Mode = os.FileMode(mode)
						} else if m.Target == target {
							m.TmpfsOptions = &mount.TmpfsOptions{Mode: os.FileMode(mode)}
						}
					}
				})
			}
		}
	}
	for _, t := range s.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		var mo []containers.MountOption
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "":
			case "size":
				n, err := units.RAMInBytes(v)
				if err != nil {
					return spec, fmt.Errorf("%w: tmpfs %s: size %q: %v", ErrInvalid, target, v, err)
				}
				mo = append(mo, containers.TmpfsSize(n))
			default:
				return spec, fmt.Errorf("%w: tmpfs %s: option %q", ErrUnsupported, target, o)
			}
		}
		spec = spec.Tmpfs(target, mo...)
	}
	return spec, nil
}

func mapNetworks(spec containers.Spec, name string, s types.ServiceConfig, res resources) (containers.Spec, error) {
	if s.NetworkMode == "none" {
		if len(s.Networks) > 0 {
			return spec, fmt.Errorf("%w: network_mode none together with networks", ErrInvalid)
		}
		return spec.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.NetworkMode = "none" }), nil
	}
	for _, n := range s.NetworksByPriority() {
		if res.networks == nil {
			break
		}
		net, ok := res.networks[n]
		if !ok {
			return spec, fmt.Errorf("%w: network %q is not declared under the top-level networks", ErrInvalid, n)
		}
		aliases := []string{name}
		if c := s.Networks[n]; c != nil {
			for _, a := range c.Aliases {
				if !slices.Contains(aliases, a) {
					aliases = append(aliases, a)
				}
			}
		}
		if net.Name() == "bridge" {
			aliases = nil // the default bridge has no aliases
		}
		spec = spec.On(net, aliases...)
	}
	return spec, nil
}

// mapRuntime maps the keys that change how the process runs.
func mapRuntime(spec containers.Spec, s types.ServiceConfig) (containers.Spec, error) {
	if s.Hostname != "" {
		spec = spec.Hostname(s.Hostname)
	}
	if s.DomainName != "" {
		spec = spec.DomainName(s.DomainName)
	}
	for _, host := range sortedKeys(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[host] {
			spec = spec.ExtraHost(host, ip)
		}
	}
	if len(s.CapAdd) > 0 {
		spec = spec.CapAdd(s.CapAdd...)
	}
	if len(s.CapDrop) > 0 {
		spec = spec.CapDrop(s.CapDrop...)
	}
	if s.Init != nil && *s.Init {
		spec = spec.Init()
	}
	for _, n := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[n]
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		spec = spec.Ulimit(n, int64(soft), int64(hard))
	}
	if s.User != "" {
		spec = spec.User(s.User)
	}
	if s.WorkingDir != "" {
		spec = spec.WorkDir(s.WorkingDir)
	}
	if s.ReadOnly {
		spec = spec.ReadOnly()
	}
	if s.Privileged {
		spec = spec.Privileged()
	}
	if s.MemLimit > 0 {
		spec = spec.Memory(int64(s.MemLimit))
	}
	if s.MemReservation > 0 {
		spec = spec.MemoryReservation(int64(s.MemReservation))
	}
	if s.CPUS > 0 {
		spec = spec.CPUs(float64(s.CPUS))
	}
	if s.StopSignal != "" {
		spec = spec.StopSignal(s.StopSignal)
	}
	if s.StopGracePeriod != nil {
		spec = spec.GracefulStop(time.Duration(*s.StopGracePeriod))
	}
	if s.ShmSize > 0 {
		spec = spec.ShmSize(int64(s.ShmSize))
	}
	for _, k := range sortedKeys(s.Sysctls) {
		spec = spec.Sysctl(k, s.Sysctls[k])
	}
	if len(s.DNS) > 0 {
		spec = spec.DNS(s.DNS...)
	}
	if len(s.DNSSearch) > 0 {
		spec = spec.DNSSearch(s.DNSSearch...)
	}
	if len(s.DNSOpts) > 0 {
		spec = spec.DNSOption(s.DNSOpts...)
	}
	if len(s.SecurityOpt) > 0 {
		spec = spec.SecurityOpt(s.SecurityOpt...)
	}
	if len(s.GroupAdd) > 0 {
		spec = spec.GroupAdd(s.GroupAdd...)
	}
	if s.Tty {
		spec = spec.TTY(s.StdinOpen)
	} else if s.StdinOpen {
		spec = spec.StdinOpen()
	}
	if s.PidsLimit > 0 {
		spec = spec.PidsLimit(s.PidsLimit)
	}
	if s.Restart != "" {
		rp, err := restartPolicy(s.Restart)
		if err != nil {
			return spec, err
		}
		spec = spec.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.RestartPolicy = rp })
	}
	return spec, nil
}

func restartPolicy(r string) (container.RestartPolicy, error) {
	mode, count, _ := strings.Cut(r, ":")
	switch mode {
	case "no", "always", "unless-stopped":
		if count != "" {
			return container.RestartPolicy{}, fmt.Errorf("%w: restart %q: a retry count is only allowed with on-failure", ErrInvalid, r)
		}
		return container.RestartPolicy{Name: container.RestartPolicyMode(mode)}, nil
	case "on-failure":
		p := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, fmt.Errorf("%w: restart %q: invalid retry count", ErrInvalid, r)
			}
			p.MaximumRetryCount = n
		}
		return p, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("%w: restart %q: want no, always, on-failure[:N] or unless-stopped", ErrInvalid, r)
}

// buildSecret hands the build the secret r names, as docker compose does: its id is
// the target, or else the secret's name; its value comes from the file, the
// environment variable or the content the top-level secret names. The value never
// enters the key or the image (see containers.Spec.BuildSecret).
func buildSecret(proj *types.Project, spec containers.Spec, r types.ServiceSecretConfig) (containers.Spec, error) {
	id := r.Target
	if id == "" {
		id = r.Source
	}
	def, ok := proj.Secrets[r.Source]
	switch {
	case !ok:
		return spec, fmt.Errorf("%w: build secret %q is not defined under the top-level secrets", ErrInvalid, r.Source)
	case bool(def.External):
		return spec, fmt.Errorf("%w: build secret %q: an external secret (a swarm's)", ErrUnsupported, r.Source)
	case def.Environment != "":
		return spec.BuildSecretEnv(id, def.Environment), nil
	case def.File != "":
		return spec.BuildSecretFile(id, def.File), nil
	case def.Content != "":
		return spec.BuildSecret(id, def.Content), nil
	}
	return spec, fmt.Errorf("%w: build secret %q has no file, environment or content", ErrInvalid, r.Source)
}
