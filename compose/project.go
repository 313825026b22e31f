package compose

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// Errors that callers can test for with errors.Is.
var (
	// ErrUnsupported is wrapped when a Compose file uses a key (or a value of a key)
	// that this package cannot honour; the message names the service and the key.
	ErrUnsupported = errors.New("unsupported compose key")
	// ErrInvalid is wrapped when a Compose file cannot be loaded (missing file,
	// malformed YAML, a reference to an undefined service, network or volume, ...)
	// or when the Project is misused (an unknown service in WaitFor, say).
	ErrInvalid = errors.New("invalid compose project")
	// ErrUnhealthy is wrapped when a service's health check reports unhealthy while
	// Up waits for it.
	ErrUnhealthy = errors.New("service unhealthy")
)

// A Project describes a Compose project to start: its files and how to load them.
// It is a value: every method returns a changed copy, so a base Project can be
// shared by parallel tests and specialised in each.
type Project struct {
	files    []string
	dir      string
	prefix   string
	env      map[string]string
	envFiles []string
	profiles []string
	fixed    bool
	services []string
	modify   map[string][]func(containers.Spec) containers.Spec
	waits    map[string][]wait.Strategy

	errs []error
}

// File returns a Project made of the Compose files at paths; later files override
// earlier ones, as with "docker compose -f a.yaml -f b.yaml". Relative paths in the
// files are relative to the first file's directory.
func File(paths ...string) Project {
	p := Project{files: slices.Clone(paths)}
	if len(paths) == 0 {
		p = p.fail(errors.New("no compose file given"))
	}
	for _, f := range paths {
		if strings.TrimSpace(f) == "" {
			p = p.fail(errors.New("empty compose file path"))
		}
	}
	return p
}

func (p Project) fail(err error) Project {
	p.errs = append(slices.Clip(p.errs), err)
	return p
}

// Dir sets the project directory, against which relative paths in the files are
// resolved and where a .env file is looked for (default: the first file's
// directory).
func (p Project) Dir(dir string) Project {
	p.dir = dir
	return p
}

// Name sets the prefix of the project name; Up appends a unique suffix. By default
// the prefix is the file's "name" or the project directory's name.
func (p Project) Name(prefix string) Project {
	if n := loader.NormalizeProjectName(prefix); n == "" || n != prefix {
		return p.fail(fmt.Errorf("invalid project name %q: want lower-case letters, digits, '-' and '_', starting with a letter or digit", prefix))
	}
	p.prefix = prefix
	return p
}

// Env sets a variable for interpolation (${KEY} in the files). It wins over the
// process environment and the .env file.
func (p Project) Env(key, value string) Project {
	if key == "" || strings.ContainsAny(key, "=\x00") {
		return p.fail(fmt.Errorf("invalid variable name %q", key))
	}
	e := maps.Clone(p.env)
	if e == nil {
		e = map[string]string{}
	}
	e[key] = value
	p.env = e
	return p
}

// EnvFile reads interpolation variables from the files at paths, as
// "docker compose --env-file": they replace the project directory's .env file, later
// files win over earlier ones, and variables set with Env or in the process
// environment win over them. A missing file is an error of Up and Run.
func (p Project) EnvFile(paths ...string) Project {
	for _, f := range paths {
		if strings.TrimSpace(f) == "" {
			return p.fail(errors.New("env file: empty path"))
		}
	}
	p.envFiles = append(slices.Clip(p.envFiles), paths...)
	return p
}

// FixedPorts publishes the ports of the file at the host ports it names
// ("8080:80" at localhost:8080), for a person who reproduces a bug with a browser or
// a client of their own. The host address is still 127.0.0.1 unless the file names
// one ("0.0.0.0:8080:80"); a port without a host port gets a random one. Two stacks
// with fixed ports cannot run at once, so tests that run in parallel should not use
// it; by default every port is published at a random host port on 127.0.0.1.
func (p Project) FixedPorts() Project {
	p.fixed = true
	return p
}

// Profiles activates Compose profiles: services with these profiles start too.
func (p Project) Profiles(names ...string) Project {
	p.profiles = append(slices.Clip(p.profiles), names...)
	return p
}

// Services limits the stack to the named services and the services they depend on.
func (p Project) Services(names ...string) Project {
	p.services = append(slices.Clip(p.services), names...)
	return p
}

// With changes the Spec of service before it starts: the way to add what a Compose
// file cannot say (containers.Spec.LogTo, a file copied in, a StartTimeout, ...).
func (p Project) With(service string, f func(containers.Spec) containers.Spec) Project {
	if f == nil {
		return p.fail(fmt.Errorf("with %s: nil function", service))
	}
	m := maps.Clone(p.modify)
	if m == nil {
		m = map[string][]func(containers.Spec) containers.Spec{}
	}
	m[service] = append(slices.Clip(m[service]), f)
	p.modify = m
	return p
}

// WaitFor adds strategies to the readiness of service that the file defines (healthy
// when it has a health check, exited 0 when it is a one-shot dependency), in place
// of the default wait for its published ports (see the package doc).
// WaitFor(service) with no strategies leaves only the file's readiness. To ignore an
// image's health check, disable it in the file (healthcheck: {disable: true}).
func (p Project) WaitFor(service string, strategies ...wait.Strategy) Project {
	for _, s := range strategies {
		if s == nil {
			return p.fail(fmt.Errorf("wait for %s: nil strategy", service))
		}
	}
	w := maps.Clone(p.waits)
	if w == nil {
		w = map[string][]wait.Strategy{}
	}
	w[service] = slices.Clone(strategies)
	p.waits = w
	return p
}

// Err returns the input errors recorded so far, joined, or nil.
func (p Project) Err() error { return errors.Join(p.errs...) }

// load reads the files with compose-go and checks the result against what this
// package supports.
func (p Project) load(ctx context.Context) (*types.Project, error) {
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(p.dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(p.envFiles...),
		cli.WithDotEnv,
		cli.WithEnv(envList(p.env)),
		cli.WithProfiles(p.profiles),
	}
	if p.prefix != "" {
		opts = append(opts, cli.WithName(p.prefix))
	}
	o, err := cli.NewProjectOptions(p.files, opts...)
	if err != nil {
		return nil, fmt.Errorf("load compose files %s: %w: %w", strings.Join(p.files, ", "), ErrInvalid, err)
	}
	for _, f := range p.files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("load compose file %s: %w: %w", f, ErrInvalid, err)
		}
	}
	for _, f := range p.envFiles {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("env file %s: %w: %w", f, ErrInvalid, err)
		}
	}
	proj, err := o.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load compose files %s: %w: %w", strings.Join(p.files, ", "), ErrInvalid, err)
	}
	if len(p.services) > 0 {
		for _, s := range p.services {
			if _, ok := proj.Services[s]; !ok {
				return nil, fmt.Errorf("load compose files %s: %w: no service %q (services: %s)", strings.Join(p.files, ", "), ErrInvalid, s, strings.Join(sortedKeys(proj.Services), ", "))
			}
		}
		proj, err = proj.WithSelectedServices(p.services)
		if err != nil {
			return nil, fmt.Errorf("select services %s: %w: %w", strings.Join(p.services, ", "), ErrInvalid, err)
		}
	}
	for s := range p.modify {
		if _, ok := proj.Services[s]; !ok {
			return nil, fmt.Errorf("with %s: %w: no such service in the project (services: %s)", s, ErrInvalid, strings.Join(sortedKeys(proj.Services), ", "))
		}
	}
	for s := range p.waits {
		if _, ok := proj.Services[s]; !ok {
			return nil, fmt.Errorf("wait for %s: %w: no such service in the project (services: %s)", s, ErrInvalid, strings.Join(sortedKeys(proj.Services), ", "))
		}
	}
	if err := checkSupported(proj); err != nil {
		return nil, err
	}
	return proj, nil
}

func envList(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
