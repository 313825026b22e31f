package compose_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/nat"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// childEnv marks a test process started by another test of this package.
const childEnv = "COMPOSE_TEST_CHILD"

func TestLoaderFeaturesIncludeExtendsAnchorsOptionalDependency(t *testing.T) {
	t.Parallel()
	stack := busybox(t, filepath.Join("features", "compose.yaml")).Up(t)
	if got, want := stack.Services(), []string{"app", "cache", "child"}; !slices.Equal(got, want) {
		t.Errorf("services %v, want %v (include adds cache)", got, want)
	}
	for _, tc := range []struct{ svc, cmd, want string }{
		{"app", "echo $FROM_ANCHOR $OWN", "anchored app"},           // anchor and merge key
		{"cache", "echo $INCLUDED", "yes"},                          // include
		{"child", "echo $FROM_BASE $CHILD", "base yes"},             // extends
		{"app", "ps -o args | grep -c '[s]leep 600'", "1"},          // the anchor's command
		{"child", "ps -o args | grep -c '[s]leep 600'", "1"},        // the base's command
		{"cache", "ps -o args | grep -c '[s]leep 600'", "1"},        // the included file's
		{"child", "echo ${FROM_ANCHOR:-none}", "none"},              // nothing leaks across
		{"app", "ping -c 1 -W 2 cache >/dev/null && echo ok", "ok"}, // one network
	} {
		if got := exec1(t, stack.Service(tc.svc), "sh", "-c", tc.cmd); got != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.svc, tc.cmd, got, tc.want)
		}
	}
	info, err := stack.Service("child").Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Labels["org.example.base"] != "true" {
		t.Errorf("extends: labels of the base service %v", info.Labels)
	}

	// With the profile, the optional dependency starts too.
	with := busybox(t, filepath.Join("features", "compose.yaml")).Profiles("extra").Services("app").Up(t)
	if got, want := with.Services(), []string{"app", "cache", "optional"}; !slices.Equal(got, want) {
		t.Errorf("services with profile extra: %v, want %v", got, want)
	}
	// A required dependency on a service of an inactive profile is an error.
	dir := t.TempDir()
	for _, name := range []string{"compose.yaml", "included.yaml", "base.yaml"} {
		content := strings.ReplaceAll(mustRead(t, filepath.Join("testdata", "features", name)), "required: false", "required: true")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(dir, "compose.yaml")
	if _, err := compose.File(f).Env("BUSYBOX", testimages.Busybox(t)).Run(t.Context()); !errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), `"optional"`) {
		t.Errorf("required dependency on a disabled service: %v, want ErrInvalid naming it", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEnvFile(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "envfile.yaml").EnvFile(filepath.Join("testdata", "vars.env")).Up(t)
	// The env file sets FROM_ENV_FILE; Env wins over it for BUSYBOX.
	if got := exec1(t, stack.Service("box"), "sh", "-c", "echo $V"); got != "env-file-value" {
		t.Errorf("V = %q, want the env file's value", got)
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestFixedPorts(t *testing.T) {
	t.Parallel()
	a, b := freePort(t), freePort(t)
	p := busybox(t, "fixed.yaml").Env("PORT_A", strconv.Itoa(a)).Env("PORT_B", strconv.Itoa(b))

	stack := p.FixedPorts().Up(t)
	web := stack.Service("web")
	if got := web.MappedPort("8080"); got != a {
		t.Errorf("8080 published at %d, want the file's %d", got, a)
	}
	raw, err := testimages.Engine(t).Client.ContainerInspect(t.Context(), web.ID())
	if err != nil {
		t.Fatal(err)
	}
	for port, want := range map[string]string{"8080/tcp": "127.0.0.1:" + strconv.Itoa(a), "8081/tcp": "127.0.0.2:" + strconv.Itoa(b)} {
		bs := raw.NetworkSettings.Ports[nat.Port(port)]
		if len(bs) != 1 || bs[0].HostIP+":"+bs[0].HostPort != want {
			t.Errorf("%s bound at %v, want %s", port, bs, want)
		}
		resp, err := http.Get("http://" + want + "/")
		if err != nil {
			t.Errorf("GET %s: %v", want, err)
			continue
		}
		resp.Body.Close()
	}
	if bs := raw.NetworkSettings.Ports[nat.Port("8082/tcp")]; len(bs) != 1 || bs[0].HostIP != "127.0.0.1" || bs[0].HostPort == "" {
		t.Errorf("8082 (no host port in the file) bound at %v, want a random port on 127.0.0.1", bs)
	}

	// Without FixedPorts, the same file runs beside it: random ports on 127.0.0.1.
	other := p.Up(t).Service("web")
	if got := other.MappedPort("8080"); got == a || got == 0 {
		t.Errorf("default stack published 8080 at %d (fixed: %d)", got, a)
	}
	raw, err = testimages.Engine(t).Client.ContainerInspect(t.Context(), other.ID())
	if err != nil {
		t.Fatal(err)
	}
	if bs := raw.NetworkSettings.Ports[nat.Port("8081/tcp")]; len(bs) != 1 || bs[0].HostIP != "127.0.0.1" {
		t.Errorf("default stack bound 8081 at %v, want 127.0.0.1 whatever the file says", bs)
	}

	// A fixed host port with two replicas cannot work.
	two := compose.File(write(t, fmt.Sprintf("services:\n  a: {image: x, scale: 2, ports: [\"%d:80\"]}\n", a)))
	if _, err := two.FixedPorts().Run(t.Context()); !errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("fixed port with replicas: %v, want ErrInvalid naming the replicas", err)
	}
}

// TestServiceFailuresFailUpAtOnce: a service that dies, or becomes unhealthy, or exits
// non-zero with nothing to wait for, fails Run with its name, exit code or probe
// output, and its last log lines; nothing of the stack is left.
func TestServiceFailuresFailUpAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		is     error
		want   []string
		absent string // a service that must not have been started
	}{
		{"dies.yaml", wait.ErrExited, []string{"service crash", "code 3", "boom: cannot open /etc/app.conf"}, ""},
		{"sick.yaml", compose.ErrUnhealthy, []string{"service db", "disk full"}, "app"},
		{"quickexit.yaml", wait.ErrExited, []string{"service oops", "code 2", "no such table"}, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			// The services' own start timeout is a minute: an error before this
			// context ends came from the failure, not from a timeout.
			ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
			defer cancel()
			p := busybox(t, tc.file).Name(strings.TrimSuffix(tc.file, ".yaml") + "-t")
			for _, svc := range []string{"crash", "db", "oops", "slow"} {
				if strings.Contains(mustRead(t, filepath.Join("testdata", tc.file)), "  "+svc+":") {
					p = p.With(svc, func(s containers.Spec) containers.Spec { return s.StartTimeout(time.Minute) })
				}
			}
			_, err := p.Run(ctx)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if ctx.Err() != nil {
				t.Fatalf("Run waited for the context instead of failing at once: %v", err)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("err does not wrap %v: %v", tc.is, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if tc.absent != "" && strings.Contains(err.Error(), "service "+tc.absent) {
				t.Errorf("error mentions %s, which should never have started: %v", tc.absent, err)
			}
			if left := projectResources(t, strings.TrimSuffix(tc.file, ".yaml")+"-t-"); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestBadInputLeavesNothing runs bad projects against the engine: each is a clear
// error that names the problem, and no container, network or volume of the project
// is left.
func TestBadInputLeavesNothing(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	bb := testimages.Busybox(t)
	for i, tc := range []struct {
		name string
		p    func(t *testing.T) compose.Project
		is   error
		want []string
	}{
		{"missing file", func(t *testing.T) compose.Project {
			return compose.File(filepath.Join(t.TempDir(), "nope.yaml"))
		}, compose.ErrInvalid, []string{"nope.yaml", "no such file"}},
		{"yaml error", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a:\n    image: x\n   command: [oops\n"))
		}, compose.ErrInvalid, []string{"compose.yaml", "yaml"}},
		{"required variable unset", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: \"${NOT_SET_ANYWHERE:?give the image in NOT_SET_ANYWHERE}\"}\n"))
		}, compose.ErrInvalid, []string{"NOT_SET_ANYWHERE", "give the image in NOT_SET_ANYWHERE"}},
		{"missing env file", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: x}\n")).EnvFile(filepath.Join(t.TempDir(), "none.env"))
		}, compose.ErrInvalid, []string{"none.env"}},
		{"unknown service in depends_on", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+", depends_on: [ghost]}\n"))
		}, compose.ErrInvalid, []string{"ghost"}},
		{"unknown service in Services", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+"}\n")).Services("a", "ghost")
		}, compose.ErrInvalid, []string{`no service "ghost"`, "services: a"}},
		{"dependency cycle", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+", depends_on: [b]}\n  b: {image: "+bb+", depends_on: [c]}\n  c: {image: "+bb+", depends_on: [a]}\n"))
		}, compose.ErrInvalid, []string{"cycle"}},
		{"unsupported key", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+", pid: host}\n"))
		}, compose.ErrUnsupported, []string{"services.a.pid"}},
		{"missing build context", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  ok: {image: "+bb+", command: [sleep, \"600\"]}\n  a: {build: ./no-such-dir}\n"))
		}, nil, []string{"no-such-dir"}},
		{"neither image nor build", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {command: [sleep, \"600\"]}\n"))
		}, compose.ErrInvalid, []string{`"a"`, "neither an image nor a build"}},
		{"port not listened on", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+", command: [sleep, \"600\"], ports: [\"8080\"], volumes: [\"data:/data\"]}\nvolumes:\n  data: {}\n")).
				With("a", func(s containers.Spec) containers.Spec { return s.StartTimeout(3 * time.Second) })
		}, wait.ErrNotReady, []string{"service a", "8080"}},
		{"port not listened on with WaitFor", func(t *testing.T) compose.Project {
			return compose.File(write(t, "services:\n  a: {image: "+bb+", command: [sleep, \"600\"], ports: [\"9000\"]}\n")).
				WaitFor("a", wait.ForHTTP("/").Port("9000").Timeout(3*time.Second))
		}, wait.ErrNotReady, []string{"service a", "9000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := fmt.Sprintf("bad%d", i)
			_, err := tc.p(t).Name(prefix).Run(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err does not wrap %v: %v", tc.is, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
			if left := projectResources(t, prefix+"-"); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestStacksAcrossProcesses runs the same file in two test processes at once: each
// gets its own project, and both pass.
func TestStacksAcrossProcesses(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	containers.RequireDocker(t)
	t.Parallel()
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestChildStack$", "-test.v", "-test.count", "1")
			cmd.Env = append(os.Environ(), childEnv+"=stack")
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	re := regexp.MustCompile(`child stack (\S+) ok`)
	var names []string
	for i := range 2 {
		if errs[i] != nil {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
			continue
		}
		m := re.FindSubmatch(outs[i])
		if m == nil {
			t.Errorf("process %d did not run the stack:\n%s", i, outs[i])
			continue
		}
		names = append(names, string(m[1]))
	}
	if len(names) == 2 && names[0] == names[1] {
		t.Errorf("both processes used project %s", names[0])
	}
}

// TestChildStack is run by TestStacksAcrossProcesses in a process of its own.
func TestChildStack(t *testing.T) {
	if os.Getenv(childEnv) != "stack" {
		t.Skip("run by TestStacksAcrossProcesses")
	}
	s := busybox(t, "core.yaml").Up(t)
	exec1(t, s.Service("client"), "wget", "-q", "-O", "-", "http://web:8080/")
	// Let the other process's stack overlap with this one.
	time.Sleep(time.Second)
	t.Logf("child stack %s ok", s.Name())
}

// TestKeepReportNamesComposeCommands runs a failing test with CONTAINERTEST_KEEP=failed
// in a child process: the stack is kept, the report prints the docker compose
// commands for it, and docker-compose lists its containers.
func TestKeepReportNamesComposeCommands(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	containers.RequireDocker(t)
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestChildKept$", "-test.v", "-test.count", "1")
	cmd.Env = append(os.Environ(), childEnv+"=keep", "CONTAINERTEST_KEEP=failed")
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`docker compose -p (\S+) ps -a`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no compose command in the keep report (child: %v):\n%s", err, out)
	}
	name := string(m[1])
	t.Cleanup(func() { removeProject(t, name) })
	if err == nil {
		t.Errorf("the child test passed; it should fail:\n%s", out)
	}
	for _, w := range []string{
		"docker compose -p " + name + " logs", "docker compose -p " + name + " down -v", // the stack's commands
		"get in:   docker exec -it " + name + "-web-1 sh",                               // the containers' keep report
		"containers: test failed; container " + name + "-worker-1", "worker says hello", // the diagnosis, with the last log lines
	} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("keep report does not say %q:\n%s", w, out)
		}
	}
	if left := projectResources(t, name); len(left) != 4 { // web, worker, the default network, volume data
		t.Errorf("kept %v, want the two containers, the network and the volume", left)
	}
	bin, lerr := exec.LookPath("docker-compose")
	if lerr != nil {
		t.Skip("docker-compose is not installed")
	}
	ps := exec.CommandContext(t.Context(), bin, "-f", "testdata/cli.yaml", "-p", name, "ps", "--services")
	ps.Env = composeCLIEnv()
	psOut, err := ps.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose ps: %v\n%s", err, psOut)
	}
	if got := strings.Fields(string(psOut)); !slices.Contains(got, "web") || !slices.Contains(got, "worker") {
		t.Errorf("docker-compose -p %s ps --services: %q", name, psOut)
	}
	logs := exec.CommandContext(t.Context(), bin, "-f", "testdata/cli.yaml", "-p", name, "logs", "--no-color", "worker")
	logs.Env = ps.Env
	if lo, err := logs.CombinedOutput(); err != nil || !strings.Contains(string(lo), "worker says hello") {
		t.Errorf("docker-compose logs worker: %v\n%s", err, lo)
	}
}

// TestChildKept is run by TestKeepReportNamesComposeCommands; it fails on purpose.
func TestChildKept(t *testing.T) {
	if os.Getenv(childEnv) != "keep" {
		t.Skip("run by TestKeepReportNamesComposeCommands")
	}
	s := busybox(t, "cli.yaml").
		With("worker", func(s containers.Spec) containers.Spec {
			return s.Cmd("sh", "-c", "echo worker says hello; exec sleep 600")
		}).
		WaitFor("worker", wait.ForLog("worker says hello")).
		Up(t)
	t.Errorf("failing on purpose with stack %s", s.Name())
}

// removeProject removes what the keep test's child left, by its project label.
func removeProject(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := testimages.Engine(t)
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+name))
	cs, _ := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	for _, c := range cs {
		if err := e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove container %s: %v", c.ID, err)
		}
	}
	ns, _ := e.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	for _, n := range ns {
		if err := e.Client.NetworkRemove(ctx, n.ID); err != nil {
			t.Errorf("remove network %s: %v", n.Name, err)
		}
	}
	vs, _ := e.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		if err := e.Client.VolumeRemove(ctx, v.Name, true); err != nil {
			t.Errorf("remove volume %s: %v", v.Name, err)
		}
	}
}

func TestBuildTargetCPUsStopGracePeriod(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stack := busybox(t, "more.yaml").Env("OUT_DIR", out).Up(t)
	built := stack.Service("built")
	if got := exec1(t, built, "cat", "/stage.txt"); got != "test stage after base from-args" {
		t.Errorf("/stage.txt = %q: want the test stage of Custom.Dockerfile, built with the args", got)
	}
	raw, err := testimages.Engine(t).Client.ContainerInspect(t.Context(), built.ID())
	if err != nil {
		t.Fatal(err)
	}
	if raw.HostConfig.Privileged || raw.HostConfig.NanoCPUs != 25e7 {
		t.Errorf("privileged %v, cpus %d; want false, 0.25 CPU", raw.HostConfig.Privileged, raw.HostConfig.NanoCPUs)
	}
	// Down stops slowstop with its 30 s grace period: its SIGTERM handler, which
	// needs 11 s (more than the default 10 s stop timeout), writes its marker.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	if err := stack.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(mustRead(t, filepath.Join(out, "marker"))); got != "graceful" {
		t.Errorf("marker %q", got)
	}
}

// TestPrivileged: privileged: true reaches the engine. Engines inside a restricted
// sandbox refuse to start such a container; the test is skipped there.
func TestPrivileged(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	f := write(t, "name: priv\nservices:\n  p: {image: "+testimages.Busybox(t)+", command: [sleep, \"600\"], privileged: true}\n")
	s, err := compose.File(f).Run(t.Context())
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("this engine refuses privileged containers: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Down(context.WithoutCancel(t.Context()))
	raw, err := testimages.Engine(t).Client.ContainerInspect(t.Context(), s.Service("p").ID())
	if err != nil {
		t.Fatal(err)
	}
	if !raw.HostConfig.Privileged {
		t.Errorf("not privileged")
	}
	if got := exec1(t, s.Service("p"), "sh", "-c", "grep CapEff /proc/self/status | cut -f2"); got == "00000000a80425fb" {
		t.Errorf("privileged container has the default capabilities %s", got)
	}
}

// TestExternalVolume: an external volume is used as it is (its data is there) and
// outlives the stack; a missing one is an error that names it.
func TestExternalVolume(t *testing.T) {
	t.Parallel()
	ext := volume.New(t)
	containers.Image(testimages.Busybox(t)).Mount(ext, "/v").
		Cmd("sh", "-c", "echo seeded > /v/f").WaitFor(wait.ForExit(0)).Start(t)
	file := write(t, `name: ext
services:
  reader:
    image: ${BUSYBOX}
    command: ["sleep", "600"]
    volumes:
      - shared:/v:ro
volumes:
  shared:
    external: true
    name: ${EXT}
`)
	p := compose.File(file).Env("BUSYBOX", testimages.Busybox(t))
	stack := p.Env("EXT", ext.Name()).Up(t)
	if got := exec1(t, stack.Service("reader"), "cat", "/v/f"); got != "seeded" {
		t.Errorf("/v/f = %q", got)
	}
	if r, err := stack.Service("reader").Exec(t.Context(), "touch", "/v/x"); err != nil || r.ExitCode == 0 {
		t.Errorf("wrote to the read-only external volume: %v %+v", err, r)
	}
	if stack.Volume("shared") != nil {
		t.Errorf("the stack claims the external volume as its own")
	}
	if err := stack.Down(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.Inspect(t.Context()); err != nil {
		t.Errorf("Down removed the external volume: %v", err)
	}

	_, err := p.Env("EXT", "no-such-volume-"+strconv.Itoa(os.Getpid())).Name("extmissing").Run(t.Context())
	if !errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), "no-such-volume-") {
		t.Errorf("missing external volume: %v, want ErrInvalid naming it", err)
	}
	if left := projectResources(t, "extmissing-"); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestWaitForAddsToHealth: a WaitFor strategy that is met at once does not cut the
// file's health check short.
func TestWaitForAddsToHealth(t *testing.T) {
	t.Parallel()
	file := write(t, `services:
  hc:
    image: ${BUSYBOX}
    command: ["sh", "-c", "echo started; sleep 2; touch /tmp/ok; exec sleep 600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 200ms
      retries: 100
`)
	stack := compose.File(file).Env("BUSYBOX", testimages.Busybox(t)).WaitFor("hc", wait.ForLog("started")).Up(t)
	info, err := stack.Service("hc").Inspect(t.Context())
	if err != nil || info.Health == nil || info.Health.Status != "healthy" {
		t.Errorf("health %+v (%v) after Up, want healthy", info.Health, err)
	}
}

// Build secrets of a service reach its RUN --mount=type=secret steps, by the id the
// file gives them (target, else the secret's name), from the environment or a file.
func TestBuildSecrets(t *testing.T) {
	token := "s3cret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Setenv("CT_BUILD_TOKEN", token)
	sum := sha256.Sum256([]byte(token))
	project := busybox(t, "buildsecret.yaml").Env("EXPECT_TOKEN_SHA256", hex.EncodeToString(sum[:]))
	if p, err := testimages.Engine(t).Client.Ping(t.Context()); err != nil {
		t.Fatal(err)
	} else if p.OSType != "linux" || p.BuilderVersion == "1" {
		// Without BuildKit (podman's API builds with buildah) no secret can reach a
		// build: Up must refuse the file and say why, leaving nothing behind.
		_, err := project.Name("nobuildkit").Run(t.Context())
		if !errors.Is(err, containers.ErrUnsupportedSyntax) || !strings.Contains(err.Error(), "needs BuildKit") {
			t.Fatalf("Up without BuildKit: err = %v, want %v naming BuildKit", err, containers.ErrUnsupportedSyntax)
		}
		if left := projectResources(t, "nobuildkit-"); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
		t.Skipf("the engine has no BuildKit (OS %q, Builder-Version %q): build secrets are refused: %v", p.OSType, p.BuilderVersion, err)
	}
	stack := project.Up(t)
	app := stack.Service("app")
	if got := exec1(t, app, "sh", "-c", "ls /run/secrets 2>/dev/null; true"); got != "" {
		t.Errorf("/run/secrets in the running container = %q, want nothing: build secrets are the build's only", got)
	}
}
