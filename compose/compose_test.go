package compose_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/leakcheck"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// TestMain fails the run when this process leaves a labelled container, network or
// volume behind.
func TestMain(m *testing.M) { leakcheck.Main(m, "compose") }

// busybox returns the Project for a file in testdata with ${BUSYBOX} set.
func busybox(t *testing.T, file string) compose.Project {
	t.Helper()
	return compose.File(filepath.Join("testdata", file)).Env("BUSYBOX", testimages.Busybox(t))
}

func exec1(t *testing.T, c *containers.Container, cmd ...string) string {
	t.Helper()
	r, err := c.Exec(t.Context(), cmd...)
	if err != nil {
		t.Fatalf("exec %v in %s: %v", cmd, c.Name(), err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("exec %v in %s: exit %d: %s%s", cmd, c.Name(), r.ExitCode, r.Stdout, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

func TestUpCoreKeys(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "core.yaml").Env("FROM_TEST", "interpolated").Up(t)
	web, client := stack.Service("web"), stack.Service("client")

	if !strings.HasPrefix(stack.Name(), "core-") {
		t.Errorf("stack name %q: want the file's name as prefix", stack.Name())
	}
	if got, want := stack.Services(), []string{"client", "init", "web"}; !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}

	// ports: published on 127.0.0.1 at a random port, not at 18080.
	resp, err := http.Get(web.URL("http", "8080") + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// entrypoint + command, with $$ escaping; environment wins over env_file.
	if got := strings.TrimSpace(string(body)); got != "hello from web" {
		t.Errorf("GET / = %q, want %q", got, "hello from web")
	}
	if web.MappedPort("8080") == 18080 {
		t.Errorf("published at the file's fixed host port 18080: stacks would clash")
	}

	// environment: interpolation from Project.Env, env_file.
	if got := exec1(t, web, "sh", "-c", "echo $FROM_LIST"); got != "interpolated" {
		t.Errorf("FROM_LIST = %q, want interpolated", got)
	}
	if got := exec1(t, web, "sh", "-c", "echo $FROM_FILE"); got != "file-value" {
		t.Errorf("FROM_FILE (env_file) = %q", got)
	}

	e := testimages.Engine(t)
	raw, err := e.Client.ContainerInspect(t.Context(), web.ID())
	if err != nil {
		t.Fatal(err)
	}
	labels := raw.Config.Labels
	for k, want := range map[string]string{
		"org.example.tier":                    "front",
		"com.docker.compose.project":          stack.Name(),
		"com.docker.compose.service":          "web",
		"com.docker.compose.container-number": "1",
		"com.docker.compose.oneoff":           "False",
	} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}
	if _, ok := raw.Config.ExposedPorts["9000/tcp"]; !ok {
		t.Errorf("expose 9000: exposed ports %v", raw.Config.ExposedPorts)
	}
	if b := raw.HostConfig.PortBindings["9000/tcp"]; len(b) > 0 {
		t.Errorf("expose 9000 was published: %v", b)
	}
	if raw.Config.Healthcheck == nil || raw.Config.Healthcheck.Interval != 200*time.Millisecond {
		t.Errorf("healthcheck %+v", raw.Config.Healthcheck)
	}
	if raw.State.Health == nil || raw.State.Health.Status != "healthy" {
		t.Errorf("web is not healthy after Up: %+v", raw.State.Health)
	}

	// networks + aliases: the client reaches web by service name and by alias.
	for _, host := range []string{"web", "www", "web.local"} {
		if got := exec1(t, client, "wget", "-q", "-O", "-", "http://"+host+":8080/"); got != "hello from web" {
			t.Errorf("client -> %s: %q", host, got)
		}
	}
	// The client is not on "back", which is internal.
	if stack.Network("back") == nil || stack.Network("front") == nil || stack.Network("default") != nil {
		t.Errorf("networks: front %v back %v default %v", stack.Network("front"), stack.Network("back"), stack.Network("default"))
	}
	if _, ok := raw.NetworkSettings.Networks[stack.Network("back").Name()]; !ok {
		t.Errorf("web is not on network back: %v", raw.NetworkSettings.Networks)
	}

	// volumes: the one-shot init seeded the named volume before the client started
	// (service_completed_successfully); read-only in the client; bind mount read-only.
	if got := exec1(t, client, "cat", "/data/seed"); got != "seeded" {
		t.Errorf("/data/seed = %q", got)
	}
	if r, err := client.Exec(t.Context(), "touch", "/data/x"); err != nil || r.ExitCode == 0 {
		t.Errorf("client wrote to its read-only volume: %v %+v", err, r)
	}
	if got := exec1(t, web, "cat", "/static/hello.txt"); got != "static content" {
		t.Errorf("bind mount: %q", got)
	}
	if r, err := web.Exec(t.Context(), "touch", "/static/x"); err != nil || r.ExitCode == 0 {
		t.Errorf("web wrote to its read-only bind mount: %v %+v", err, r)
	}
	if got := exec1(t, web, "sh", "-c", "grep ' /www ' /proc/mounts | cut -d' ' -f3"); got != "tmpfs" {
		t.Errorf("/www is %q, want tmpfs", got)
	}
	// network_mode: none, and the one-shot exited 0.
	if info, err := stack.Service("init").Inspect(t.Context()); err != nil || info.State != "exited" || info.ExitCode != 0 {
		t.Errorf("init: state %q, exit code %d (%v); want exited with 0", info.State, info.ExitCode, err)
	}
}

// TestDependsOnOrder checks that a dependent starts only after its dependency meets
// the condition: the dependent's command fails unless the dependency's state is
// already there.
func TestDependsOnConditions(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "depends.yaml").Up(t)
	// app's command exits 1 unless migrate's marker and db's health file existed
	// at its start; it is running, so both conditions held.
	if info, err := stack.Service("app").Inspect(t.Context()); err != nil || !info.Running {
		t.Fatalf("app: state %q (%v), want running", info.State, err)
	}
	if got := exec1(t, stack.Service("app"), "sh", "-c", "echo $(cat /shared/order)"); got != "db migrate app" {
		t.Errorf("start order %q", got)
	}
}

func TestOneShotFailureFailsUpAndLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := busybox(t, "failing.yaml")
	_, err := p.Run(ctx)
	if err == nil {
		t.Fatal("Run succeeded with a one-shot that exits 3")
	}
	if !errors.Is(err, wait.ErrNotReady) || !strings.Contains(err.Error(), "migrate") || !strings.Contains(err.Error(), "3") {
		t.Errorf("error does not name the service and exit code: %v", err)
	}
	// Nothing of the failed stack is left: no container, network or volume of a
	// "failing-..." project.
	if left := projectResources(t, "failing-"); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// projectResources lists the containers, networks and volumes whose Compose project
// label starts with prefix.
func projectResources(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := t.Context()
	e := testimages.Engine(t)
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project"))
	var out []string
	cs, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.HasPrefix(c.Labels["com.docker.compose.project"], prefix) {
			out = append(out, "container "+strings.Join(c.Names, ","))
		}
	}
	ns, err := e.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if strings.HasPrefix(n.Labels["com.docker.compose.project"], prefix) {
			out = append(out, "network "+n.Name)
		}
	}
	vs, err := e.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Labels["com.docker.compose.project"], prefix) {
			out = append(out, "volume "+v.Name)
		}
	}
	return out
}

func TestParallelStacksAreIsolated(t *testing.T) {
	t.Parallel()
	p := busybox(t, "core.yaml")
	stacks := make(chan *compose.Stack, 2)
	t.Run("group", func(t *testing.T) {
		for range 2 {
			t.Run("up", func(t *testing.T) {
				t.Parallel()
				s := p.Up(t)
				exec1(t, s.Service("client"), "wget", "-q", "-O", "-", "http://web:8080/")
				stacks <- s
			})
		}
	})
	close(stacks)
	var names []string
	for s := range stacks {
		names = append(names, s.Name())
	}
	if len(names) == 2 && names[0] == names[1] {
		t.Errorf("two stacks share the name %s", names[0])
	}
}

func TestRunDownRemovesEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := testimages.Engine(t)
	s, err := busybox(t, "core.yaml").Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+s.Name()))
	cs, _ := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	ns, _ := e.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	vs, _ := e.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	if len(cs) != 3 || len(ns) != 2 || len(vs.Volumes) != 1 {
		t.Errorf("before Down: %d containers, %d networks, %d volumes with the project label; want 3, 2, 1", len(cs), len(ns), len(vs.Volumes))
	}
	if err := s.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(ctx); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	cs, _ = e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	ns, _ = e.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	vs, _ = e.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	if len(cs)+len(ns)+len(vs.Volumes) != 0 {
		t.Errorf("after Down: %d containers, %d networks, %d volumes left", len(cs), len(ns), len(vs.Volumes))
	}
}

// TestComposeCLISeesStack checks the Compose labels with the docker compose command
// line, when it is installed.
// composeCLIEnv is the environment for the docker-compose command. With an engine
// over TLS it leaves out REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE: docker-compose 1.x
// (Python's requests) would verify the engine against that bundle instead of
// DOCKER_CERT_PATH's ca.pem.
func composeCLIEnv() []string {
	env := append(os.Environ(), "BUSYBOX="+testimages.BusyboxRef)
	if os.Getenv("DOCKER_CERT_PATH") == "" {
		return env
	}
	return slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv, "REQUESTS_CA_BUNDLE=") || strings.HasPrefix(kv, "CURL_CA_BUNDLE=")
	})
}

func TestComposeCLISeesStack(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed")
	}
	stack := busybox(t, "cli.yaml").Up(t)
	cmd := exec.CommandContext(t.Context(), bin, "-f", "testdata/cli.yaml", "-p", stack.Name(), "ps", "-q")
	cmd.Env = composeCLIEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose ps: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	for _, svc := range []string{"web", "worker"} {
		if !slices.Contains(got, stack.Service(svc).ID()) {
			t.Errorf("docker-compose -p %s ps -q does not list %s (%s): %q", stack.Name(), svc, stack.Service(svc).ID(), out)
		}
	}
}

func TestUpRuntimeKeys(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "runtime.yaml").Env("GREETING", "hello").Up(t)
	box := stack.Service("box")
	for _, tc := range []struct{ cmd, want string }{
		{"hostname", "box1"},
		{"grep db.internal /etc/hosts | cut -f1", "10.1.2.3"},
		// The container's own limits: what an exec'd shell gets varies with the engine
		// (20.10 here gives an exec the hard limit as its soft one).
		{"grep 'Max open files' /proc/1/limits | tr -s ' ' | cut -d' ' -f4,5", "1024 2048"},
		{"grep 'Max processes' /proc/1/limits | tr -s ' ' | cut -d' ' -f3,4", "4096 8192"},
		{"id -u; id -G", "1234\n1234 4321"},
		{"pwd", "/tmp"},
		{"cat /scratch/hook", "started"},
		{"cat /run/secrets/db_password", "s3cr3t"},
		{"stat -c %a /run/secrets/other/password", "400"},
		{"cat /etc/app.conf", "greeting=hello"},
		{"grep -E '^(search|options)' /etc/resolv.conf", "search example.test\noptions ndots:2"},
		// PID 1 is the engine's init: docker-init, or podman's catatonit.
		{"cat /proc/1/comm | sed s/podman-init/docker-init/", "docker-init"},
		// sysctls and security_opt, as the kernel applies them.
		{"cat /proc/sys/net/ipv4/ip_unprivileged_port_start", "80"},
		{"grep NoNewPrivs /proc/self/status | cut -f2", "1"},
		{"grep CapBnd /proc/self/status | cut -f2", "0000000000000400"},
	} {
		if got := exec1(t, box, "sh", "-c", tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	e := testimages.Engine(t)
	raw, err := e.Client.ContainerInspect(t.Context(), box.ID())
	if err != nil {
		t.Fatal(err)
	}
	hc := raw.HostConfig
	if hc.Memory != 64<<20 || hc.MemoryReservation != 32<<20 || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 64 || hc.ShmSize != 16<<20 {
		t.Errorf("limits: memory %d reservation %d cpus %d pids %v shm %d", hc.Memory, hc.MemoryReservation, hc.NanoCPUs, hc.PidsLimit, hc.ShmSize)
	}
	if hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 2 {
		t.Errorf("restart policy %+v", hc.RestartPolicy)
	}
	// Podman reports the signal by its number.
	if s := raw.Config.StopSignal; s != "SIGUSR1" && s != "10" {
		t.Errorf("stop signal %q, want SIGUSR1", s)
	}

	// deploy.replicas: two numbered containers; scale 0: none.
	rs := stack.Replicas("replica")
	if len(rs) != 2 {
		t.Fatalf("%d replicas, want 2", len(rs))
	}
	if got := exec1(t, rs[0], "sh", "-c", "touch /x 2>/dev/null && echo writable || echo read-only"); got != "read-only" {
		t.Errorf("read_only: root is %s", got)
	}
	for i, c := range rs {
		raw, err := e.Client.ContainerInspect(t.Context(), c.ID())
		if err != nil {
			t.Fatal(err)
		}
		if n := raw.Config.Labels["com.docker.compose.container-number"]; n != strconv.Itoa(i+1) {
			t.Errorf("replica %d: container-number %q", i, n)
		}
		if raw.HostConfig.Memory != 48<<20 || raw.HostConfig.RestartPolicy.Name != "no" {
			t.Errorf("replica %d: memory %d restart %+v", i, raw.HostConfig.Memory, raw.HostConfig.RestartPolicy)
		}
	}
	if slices.Contains(stack.Services(), "scaled") {
		t.Errorf("a service with scale 0 has containers")
	}
}

// domainname reaches the container; on podman, which would drop it, Up refuses the
// file and leaves nothing.
func TestDomainName(t *testing.T) {
	t.Parallel()
	project := compose.File(write(t, "services:\n  box: {image: "+testimages.Busybox(t)+", command: [sleep, \"600\"], hostname: box1, domainname: example.test}\n"))
	if testimages.IsPodman(t) {
		_, err := project.Name("domainname").Run(t.Context())
		if !errors.Is(err, containers.ErrUnsupportedByEngine) || !strings.Contains(err.Error(), "example.test") {
			t.Errorf("Up on podman: err = %v, want %v naming the domain name", err, containers.ErrUnsupportedByEngine)
		}
		if left := projectResources(t, "domainname-"); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
		return
	}
	box := project.Up(t).Service("box")
	if got := exec1(t, box, "sh", "-c", "echo $(hostname) $(cat /proc/sys/kernel/domainname)"); got != "box1 example.test" {
		t.Errorf("hostname and domain name %q, want box1 example.test", got)
	}
}

func TestProfilesSelectionOverrideDotEnvExternalNetwork(t *testing.T) {
	t.Parallel()
	shared := network.New(t)
	dir := filepath.Join("testdata", "select")
	p := compose.File(filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "override.yaml")).
		Env("BUSYBOX", testimages.Busybox(t)).
		Env("SHARED_NETWORK", shared.Name())

	// Services("api") brings its dependency cache, not other; the debug profile
	// adds debug.
	stack := p.Profiles("debug").Services("api", "debug").Up(t)
	if got, want := stack.Services(), []string{"api", "cache", "debug"}; !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	api := stack.Service("api")
	if got := exec1(t, api, "sh", "-c", "echo $FROM_DOTENV $LEVEL"); got != "from-dotenv override" {
		t.Errorf("environment %q, want the .env value and the override file's", got)
	}
	// The external network is joined, and not removed by the stack.
	if ip, err := api.IP(t.Context(), shared); err != nil || ip == "" {
		t.Errorf("api on the external network: %q, %v", ip, err)
	}
	if stack.Network("shared") == nil || stack.Network("shared").Managed() {
		t.Errorf("external network: %v", stack.Network("shared"))
	}

	// Without the profile, debug is not started.
	stack2 := p.Up(t)
	if slices.Contains(stack2.Services(), "debug") || !slices.Contains(stack2.Services(), "other") {
		t.Errorf("services without profile: %v", stack2.Services())
	}
	if err := stack2.Down(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Inspect(t.Context()); err != nil {
		t.Errorf("Down removed the external network: %v", err)
	}
}

func TestServiceHealthyWithoutHealthCheckIsAnError(t *testing.T) {
	t.Parallel()
	_, err := busybox(t, "unhealthy-dep.yaml").Run(t.Context())
	if !errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), "db has no health check") {
		t.Fatalf("err = %v, want ErrInvalid naming db's missing health check", err)
	}
}

// TestStartTimeoutFromWith checks that a StartTimeout set with Project.With bounds
// the service's readiness wait, which Up runs itself.
func TestStartTimeoutFromWith(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := busybox(t, "never-healthy.yaml").
		With("stuck", func(s containers.Spec) containers.Spec { return s.StartTimeout(time.Second) }).
		Run(ctx)
	if !errors.Is(err, wait.ErrNotReady) || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("err = %v, want ErrNotReady for stuck", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Run waited for the outer context, not the service's StartTimeout: %v", err)
	}
}

func TestBuildAndImageSharedByName(t *testing.T) {
	t.Parallel()
	stack := busybox(t, "built.yaml").Up(t)
	for _, svc := range []string{"builder", "user"} {
		if got := exec1(t, stack.Service(svc), "cat", "/built.txt"); got != "built-by-compose" {
			t.Errorf("%s: /built.txt = %q", svc, got)
		}
	}
}
