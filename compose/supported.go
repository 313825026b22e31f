package compose

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// The keys of each Compose element that this package maps onto the engine. Keys not
// listed here are an error when set (see checkSupported), except those in ignored.
var (
	serviceKeys = keySet(
		"name", "profiles", "build", "command", "entrypoint", "environment", "env_file",
		"label_file", "expose", "ports", "volumes", "networks", "healthcheck",
		"depends_on", "labels", "image", "container_name", "pull_policy",
		"hostname", "domainname", "extra_hosts", "cap_add", "cap_drop", "init",
		"ulimits", "user", "working_dir", "read_only", "privileged", "mem_limit",
		"mem_reservation", "cpus", "stop_signal", "stop_grace_period", "shm_size",
		"sysctls", "dns", "dns_search", "dns_opt", "security_opt", "group_add", "tty",
		"stdin_open", "pids_limit", "restart", "tmpfs", "platform", "network_mode",
		"scale", "deploy", "secrets", "configs", "post_start",
	)
	// ignored keys only concern the docker compose command line.
	ignored = keySet("develop", "attach")

	buildKeys       = keySet("context", "dockerfile", "args", "target", "no_cache", "labels", "platforms", "pull", "secrets")
	buildSecretKeys = keySet("source", "target")
	portKeys        = keySet("target", "published", "protocol", "host_ip", "mode", "name", "app_protocol")
	volumeKeys      = keySet("type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency")
	bindKeys        = keySet("create_host_path")
	volumeOptKeys   = keySet("nocopy")
	tmpfsKeys       = keySet("size", "mode")
	serviceNetKeys  = keySet("aliases", "priority", "gw_priority")
	healthKeys      = keySet("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable")
	dependsKeys     = keySet("condition", "required", "restart")
	networkKeys     = keySet("name", "driver", "driver_opts", "ipam", "external", "internal", "attachable", "labels", "enable_ipv6")
	ipamKeys        = keySet("config")
	ipamPoolKeys    = keySet("subnet")
	projVolumeKeys  = keySet("name", "driver", "driver_opts", "external", "labels")
	deployKeys      = keySet("replicas", "resources", "restart_policy", "mode")
	resourcesKeys   = keySet("limits", "reservations")
	limitKeys       = keySet("cpus", "memory", "pids")
	reservationKeys = keySet("memory")
	restartPolKeys  = keySet("condition", "max_attempts")
	deployModes     = keySet("", "replicated")
	fileRefKeys     = keySet("source", "target", "mode")
	fileObjKeys     = keySet("name", "file", "environment", "content")
	hookKeys        = keySet("command", "user", "working_dir", "environment", "per_replica")
)

type set map[string]bool

func keySet(ks ...string) set {
	s := set{}
	for _, k := range ks {
		s[k] = true
	}
	return s
}

// unsupportedKeys lists the set fields of the struct v whose YAML keys are not in ok
// (nor ignored), each prefixed with prefix.
func unsupportedKeys(v any, ok set, prefix string) []string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	var bad []string
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || strings.HasPrefix(tag, "#") || !f.IsExported() {
			continue
		}
		if ok[tag] || ignored[tag] {
			continue
		}
		if !rv.Field(i).IsZero() {
			bad = append(bad, prefix+tag)
		}
	}
	return bad
}

// checkSupported returns an error wrapping ErrUnsupported that names every key of
// proj this package cannot honour, or nil.
func checkSupported(proj *types.Project) error {
	var bad []string
	add := func(v any, ok set, prefix string) { bad = append(bad, unsupportedKeys(v, ok, prefix)...) }
	for _, name := range sortedKeys(proj.Services) {
		s := proj.Services[name]
		pre := "services." + name + "."
		add(s, serviceKeys, pre)
		add(s.Build, buildKeys, pre+"build.")
		if s.Build != nil {
			for i, r := range s.Build.Secrets {
				add(r, buildSecretKeys, fmt.Sprintf("%sbuild.secrets[%d].", pre, i))
			}
		}
		if s.Build != nil && strings.Contains(s.Build.Context, "://") {
			bad = append(bad, pre+"build.context (a remote context: "+s.Build.Context+")")
		}
		for i, p := range s.Ports {
			add(p, portKeys, fmt.Sprintf("%sports[%d].", pre, i))
		}
		for i, v := range s.Volumes {
			vp := fmt.Sprintf("%svolumes[%d].", pre, i)
			add(v, volumeKeys, vp)
			add(v.Bind, bindKeys, vp+"bind.")
			add(v.Volume, volumeOptKeys, vp+"volume.")
			add(v.Tmpfs, tmpfsKeys, vp+"tmpfs.")
			switch v.Type {
			case types.VolumeTypeVolume, types.VolumeTypeBind, types.VolumeTypeTmpfs:
			default:
				bad = append(bad, vp+"type ("+v.Type+")")
			}
		}
		for _, n := range sortedKeys(s.Networks) {
			add(s.Networks[n], serviceNetKeys, pre+"networks."+n+".")
		}
		add(s.HealthCheck, healthKeys, pre+"healthcheck.")
		for _, d := range sortedKeys(s.DependsOn) {
			add(s.DependsOn[d], dependsKeys, pre+"depends_on."+d+".")
		}
		if s.Deploy != nil {
			add(s.Deploy, deployKeys, pre+"deploy.")
			add(s.Deploy.Resources, resourcesKeys, pre+"deploy.resources.")
			add(s.Deploy.Resources.Limits, limitKeys, pre+"deploy.resources.limits.")
			add(s.Deploy.Resources.Reservations, reservationKeys, pre+"deploy.resources.reservations.")
			add(s.Deploy.RestartPolicy, restartPolKeys, pre+"deploy.restart_policy.")
			if !deployModes[s.Deploy.Mode] {
				bad = append(bad, pre+"deploy.mode ("+s.Deploy.Mode+")")
			}
		}
		for i, r := range s.Secrets {
			add(r, fileRefKeys, fmt.Sprintf("%ssecrets[%d].", pre, i))
		}
		for i, r := range s.Configs {
			add(r, fileRefKeys, fmt.Sprintf("%sconfigs[%d].", pre, i))
		}
		for i, h := range s.PostStart {
			add(h, hookKeys, fmt.Sprintf("%spost_start[%d].", pre, i))
		}
		switch s.NetworkMode {
		case "", "none":
		default:
			bad = append(bad, pre+"network_mode ("+s.NetworkMode+": only none is supported; host and container modes break isolation)")
		}
		if s.Build == nil && s.Platform != "" {
			bad = append(bad, pre+"platform (only with build)")
		}
	}
	for _, n := range sortedKeys(proj.Networks) {
		nw := proj.Networks[n]
		add(nw, networkKeys, "networks."+n+".")
		add(nw.Ipam, ipamKeys, "networks."+n+".ipam.")
		for i, c := range nw.Ipam.Config {
			add(c, ipamPoolKeys, fmt.Sprintf("networks.%s.ipam.config[%d].", n, i))
		}
	}
	for _, n := range sortedKeys(proj.Volumes) {
		add(proj.Volumes[n], projVolumeKeys, "volumes."+n+".")
	}
	for _, n := range sortedKeys(proj.Secrets) {
		add(types.FileObjectConfig(proj.Secrets[n]), fileObjKeys, "secrets."+n+".")
	}
	for _, n := range sortedKeys(proj.Configs) {
		add(types.FileObjectConfig(proj.Configs[n]), fileObjKeys, "configs."+n+".")
	}
	if len(proj.Models) > 0 {
		bad = append(bad, "models")
	}
	if len(bad) == 0 {
		return nil
	}
	bad = slices.Compact(bad)
	return fmt.Errorf("compose project %s: %w: %s", proj.Name, ErrUnsupported, strings.Join(bad, ", "))
}
