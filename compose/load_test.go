package compose_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// write puts a Compose file into a temporary directory and returns its path.
func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// These files are rejected before anything reaches the engine, so the tests run
// without one.

func TestUnsupportedKeysAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // substrings of the error: the key paths
	}{
		{"network_mode host", `
services:
  a: {image: x, network_mode: host}`, []string{"services.a.network_mode (host"}},
		{"static ip", `
services:
  a:
    image: x
    networks:
      n: {ipv4_address: 10.5.0.5}
networks:
  n:
    ipam:
      config: [{subnet: 10.5.0.0/24}]`, []string{"services.a.networks.n.ipv4_address"}},
		{"several at once", `
services:
  a:
    image: x
    pid: host
    devices: ["/dev/fuse:/dev/fuse"]
    logging: {driver: syslog}
  b:
    image: x
    volumes_from: [a]`, []string{"services.a.devices", "services.a.logging", "services.a.pid", "services.b.volumes_from"}},
		{"build ssh", `
services:
  a:
    build: {context: ., ssh: [default]}`, []string{"services.a.build.ssh"}},
		{"bind propagation", `
services:
  a:
    image: x
    volumes:
      - type: bind
        source: .
        target: /src
        bind: {propagation: rshared}`, []string{"services.a.volumes[0].bind.propagation"}},
		{"ipam gateway", `
services:
  a: {image: x, networks: [n]}
networks:
  n:
    ipam:
      config: [{subnet: 10.6.0.0/24, gateway: 10.6.0.1}]`, []string{"networks.n.ipam.config[0].gateway"}},
		{"volume subpath", `
services:
  a:
    image: x
    volumes:
      - type: volume
        source: v
        target: /v
        volume: {subpath: sub}
volumes:
  v: {}`, []string{"services.a.volumes[0].volume.subpath"}},
		{"secrets on a read-only root", `
services:
  a: {image: x, read_only: true, secrets: [s]}
secrets:
  s: {environment: HOME}`, []string{"secrets or configs together with read_only"}},
		{"privileged hook", `
services:
  a:
    image: x
    post_start: [{command: [id], privileged: true}]`, []string{"services.a.post_start[0].privileged"}},
		{"global deploy", `
services:
  a: {image: x, deploy: {mode: global}}`, []string{"services.a.deploy.mode (global)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compose.File(write(t, tc.file)).Run(t.Context())
			if !errors.Is(err, compose.ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    func(t *testing.T) compose.Project
		want string
	}{
		{"missing file", func(t *testing.T) compose.Project {
			return compose.File(filepath.Join(t.TempDir(), "nope.yaml"))
		}, "nope.yaml"},
		{"no file", func(t *testing.T) compose.Project { return compose.File() }, "no compose file"},
		{"malformed yaml", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: [unclosed\n"))
		}, "compose.yaml"},
		{"unknown key", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, imagee: y}\n"))
		}, "imagee"},
		{"undefined dependency", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, depends_on: [b]}\n"))
		}, "b"},
		{"undefined network", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, networks: [n]}\n"))
		}, "n"},
		{"dependency cycle", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"))
		}, "cycle"},
		{"required variable", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: \"${IMG:?IMG must be set}\"}\n"))
		}, "IMG must be set"},
		{"wait for unknown service", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).WaitFor("b", wait.ForExit(0))
		}, `wait for b`},
		{"with unknown service", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).With("b", func(s containers.Spec) containers.Spec { return s })
		}, `with b`},
		{"unknown selected service", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).Services("zz")
		}, `no service "zz"`},
		{"bad variable name", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).Env("A=B", "c")
		}, `invalid variable name "A=B"`},
		{"bad project name", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).Name("Bad Name")
		}, `invalid project name "Bad Name"`},
		{"bad restart", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, restart: sometimes}\n"))
		}, `restart "sometimes"`},
		{"bad extra host", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, extra_hosts: [\"db:not-an-ip\"]}\n"))
		}, `not-an-ip`},
		{"container_name with replicas", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, container_name: one, scale: 2}\n"))
		}, `container_name`},
		{"undeclared secret", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, secrets: [nope]}\n"))
		}, `nope`},
		{"bad cap", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x, cap_add: [\"NET ADMIN\"]}\n"))
		}, `invalid capability "NET ADMIN"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p(t).Run(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, compose.ErrUnsupported) || !errors.Is(err, compose.ErrInvalid) {
				t.Errorf("err does not wrap ErrInvalid (only): %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name %q: %v", tc.want, err)
			}
		})
	}
}

func TestStackServicePanicsOnUnknownService(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "cli.yaml").Up(t)
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, `no service "nope"`) || !strings.Contains(msg, "web, worker") {
			t.Errorf("panic %v: want it to name the missing and the known services", r)
		}
	}()
	stack.Service("nope")
}
