package containers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/wait"
)

const busybox = "busybox:latest"

// httpd is a busybox web server on port 8080 serving /www.
func httpd() containers.Spec {
	return containers.Image(busybox).
		File("/www/index.html", []byte("hello from busybox\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		Expose("8080")
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// sessionContainers lists the engine's containers of this test process.
func sessionContainers(t *testing.T) []container.Summary {
	t.Helper()
	eng, err := engine.Get(context.Background())
	require.NoError(t, err)
	list, err := eng.Client.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", engine.SessionFilter())),
	})
	require.NoError(t, err)
	return list
}

// requireNoLeak checks that no container carrying name (a substring) remains.
func requireNoLeak(t *testing.T, name string) {
	t.Helper()
	for _, c := range sessionContainers(t) {
		for _, n := range c.Names {
			if strings.Contains(n, name) {
				t.Errorf("container %s (%s) leaked", n, c.State)
			}
		}
	}
}

func TestStartServesAndTearsDown(t *testing.T) {
	containers.RequireDocker(t) // the checks after the subtest need an engine too
	var name string
	t.Run("inner", func(t *testing.T) {
		c := httpd().Start(t)
		name = c.Name()
		assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"))
		assert.True(t, strings.HasPrefix(c.Endpoint("8080/tcp"), c.Host()+":"), c.Endpoint("8080/tcp"))
		if eng, err := engine.Get(t.Context()); err == nil && eng.Container == "" && !eng.Remote && os.Getenv("CONTAINERTEST_HOST") == "" {
			assert.Equal(t, "127.0.0.1", c.Host(), "a local engine seen from its host")
		}
		assert.Equal(t, c.MappedPort("8080"), c.MappedPort("8080/tcp"))
		info, err := c.Inspect(t.Context())
		require.NoError(t, err)
		assert.True(t, info.Running)
		assert.Equal(t, "running", info.State)
		assert.NotEmpty(t, info.ImageID)
	})
	requireNoLeak(t, name)
	assert.NotEmpty(t, name)
}

func TestPortsBindToLoopback(t *testing.T) {
	c := httpd().Start(t)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	raw, err := eng.Client.ContainerInspect(t.Context(), c.ID())
	require.NoError(t, err)
	for p, bs := range raw.NetworkSettings.Ports {
		for _, b := range bs {
			// 127.0.0.1 on the engine's host; in a container, the one gateway address
			// the tests reach it at. Never all interfaces of a local engine.
			assert.Equal(t, eng.PublishIP(), b.HostIP, "port %s", p)
			if !eng.Remote {
				assert.NotEqual(t, "0.0.0.0", b.HostIP, "port %s", p)
			}
		}
	}
	assert.False(t, raw.HostConfig.Privileged)
	// Every container carries the framework's labels, for teardown, the watchdog and
	// the sweep.
	assert.Equal(t, "true", raw.Config.Labels[engine.LabelManaged])
	assert.Equal(t, engine.SessionID(), raw.Config.Labels[engine.LabelSession])
	assert.Equal(t, t.Name(), raw.Config.Labels[engine.LabelTest])
	for _, k := range []string{engine.LabelHost, engine.LabelPID, engine.LabelStart} {
		assert.NotEmpty(t, raw.Config.Labels[k], k)
	}
}

func TestSpecIsAValue(t *testing.T) {
	base := containers.Image(busybox).Cmd("sleep", "60").Env("BASE", "1").Label("team", "a")
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			s := base.Env("N", fmt.Sprint(i)).Label("n", fmt.Sprint(i))
			if i%2 == 0 {
				s = s.Env("EVEN", "yes")
			}
			c := s.WaitFor().Start(t)
			info, err := c.Inspect(t.Context())
			require.NoError(t, err)
			assert.Contains(t, info.Env, "BASE=1")
			assert.Contains(t, info.Env, fmt.Sprintf("N=%d", i))
			for _, e := range info.Env {
				if strings.HasPrefix(e, "N=") {
					assert.Equal(t, fmt.Sprintf("N=%d", i), e)
				}
			}
			if i%2 == 0 {
				assert.Contains(t, info.Env, "EVEN=yes")
			} else {
				assert.NotContains(t, info.Env, "EVEN=yes")
			}
			assert.Equal(t, fmt.Sprint(i), info.Labels["n"])
			assert.Equal(t, "a", info.Labels["team"])
		})
	}
}

func TestSpecMethodsDoNotMutate(t *testing.T) {
	base := containers.Image(busybox).Env("A", "1").Expose("80")
	a := base.Env("B", "2").Expose("81")
	b := base.Env("C", "3").Expose("82")
	_ = a
	_ = b
	// Both children appended to base's slices; neither may see the other's values.
	assert.NoError(t, a.Err())
	assert.NoError(t, b.Err())
	assert.NotEqual(t, fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b))
	assert.NotContains(t, fmt.Sprintf("%+v", a), "C=3")
	assert.NotContains(t, fmt.Sprintf("%+v", b), "B=2")
	assert.NotContains(t, fmt.Sprintf("%+v", base), "B=2")
}

func TestExec(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Start(t)
	r, err := c.Exec(t.Context(), "sh", "-c", "echo out; echo err >&2; exit 3")
	require.NoError(t, err)
	assert.Equal(t, 3, r.ExitCode)
	assert.Equal(t, "out\n", r.Stdout)
	assert.Equal(t, "err\n", r.Stderr)

	r, err = c.ExecWith(t.Context(), containers.ExecOptions{Env: []string{"X=42"}, User: "nobody", WorkDir: "/tmp"},
		"sh", "-c", `echo "$X $(id -u) $(pwd)"`)
	require.NoError(t, err)
	assert.Equal(t, 0, r.ExitCode)
	assert.Equal(t, "42 65534 /tmp\n", r.Stdout)

	_, err = c.Exec(t.Context(), "/no/such/binary")
	// The engine reports a missing binary as exit code 126/127 or as an error; both name it.
	if err == nil {
		r, _ = c.Exec(t.Context(), "/no/such/binary")
		assert.NotEqual(t, 0, r.ExitCode)
	}
}

func TestExecInStoppedContainer(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Start(t)
	require.NoError(t, c.Kill(t.Context(), "SIGKILL"))
	require.Eventually(t, func() bool { return containers.StatusOf(c).Exited }, 10*time.Second, 10*time.Millisecond)
	_, err := c.Exec(t.Context(), "true")
	require.ErrorIs(t, err, containers.ErrNotRunning) // on Docker and on podman, whose wordings differ
	assert.Contains(t, err.Error(), c.Name())
	assert.Contains(t, err.Error(), "not running")
}

func TestCopyToAndFrom(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().
		File("/etc/app/config.yaml", []byte("key: value\n"), 0o600).
		Start(t)
	b, err := c.CopyFrom(t.Context(), "/etc/app/config.yaml")
	require.NoError(t, err)
	assert.Equal(t, "key: value\n", string(b))
	r, err := c.Exec(t.Context(), "stat", "-c", "%a", "/etc/app/config.yaml")
	require.NoError(t, err)
	assert.Equal(t, "600\n", r.Stdout)

	require.NoError(t, c.CopyTo(t.Context(), "/data/new/file.txt", []byte("later"), 0o644))
	r, err = c.Exec(t.Context(), "cat", "/data/new/file.txt")
	require.NoError(t, err)
	assert.Equal(t, "later", r.Stdout)

	_, err = c.CopyFrom(t.Context(), "/no/such/file")
	assert.Error(t, err)
	_, err = c.CopyFrom(t.Context(), "/etc")
	assert.ErrorContains(t, err, "is a directory")
}

func TestCopyDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("A"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "b.sh"), []byte("echo B"), 0o755))
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().CopyDir(dir, "/opt/app").Start(t)
	r, err := c.Exec(t.Context(), "sh", "-c", "cat /opt/app/a.txt; sh /opt/app/sub/b.sh; stat -c %a /opt/app/sub/b.sh")
	require.NoError(t, err)
	assert.Equal(t, "AB\n755\n", r.Stdout)
}

func TestLogs(t *testing.T) {
	var buf syncBuffer
	c := containers.Image(busybox).
		Cmd("sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 60").
		LogTo(&buf).
		WaitFor(wait.ForLog("to-stderr")).
		Start(t)
	logs, err := c.Logs(t.Context())
	require.NoError(t, err)
	assert.Contains(t, logs, "to-stdout\n")
	assert.Contains(t, logs, "to-stderr\n")
	// stdout and stderr are copied by separate engine goroutines, so their order in
	// the log is not fixed: the last line is either one.
	tail, err := c.LogTail(t.Context(), 1)
	require.NoError(t, err)
	assert.Contains(t, []string{"to-stdout\n", "to-stderr\n"}, tail)
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), "to-stderr") }, 5*time.Second, 10*time.Millisecond)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEnvUserWorkDirLimits(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().
		Env("GREETING", "hi").Env("GREETING", "hello").
		User("nobody").WorkDir("/tmp").
		Memory(64 << 20).CPUs(0.5).
		ReadOnly().
		Start(t)
	r, err := c.Exec(t.Context(), "sh", "-c", `echo "$GREETING $(id -un) $(pwd)"; touch /x 2>/dev/null && echo writable || echo readonly`)
	require.NoError(t, err)
	assert.Equal(t, "hello nobody /tmp\nreadonly\n", r.Stdout)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	raw, err := eng.Client.ContainerInspect(t.Context(), c.ID())
	require.NoError(t, err)
	assert.EqualValues(t, 64<<20, raw.HostConfig.Memory)
	assert.EqualValues(t, 5e8, raw.HostConfig.NanoCPUs)
	assert.True(t, raw.HostConfig.ReadonlyRootfs)
}

func TestModify(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().
		Modify(func(cfg *container.Config, hc *container.HostConfig) {
			cfg.Hostname = "custom-host"
		}).Start(t)
	r, err := c.Exec(t.Context(), "hostname")
	require.NoError(t, err)
	assert.Equal(t, "custom-host\n", r.Stdout)
}

func TestNamed(t *testing.T) {
	name := "ct-named-" + engine.SessionID()
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Named(name).Start(t)
	assert.Equal(t, name, c.Name())
	info, err := c.Inspect(t.Context())
	require.NoError(t, err)
	assert.Equal(t, name, info.Name)
}

func TestMappedPortPanicsForUnexposedPort(t *testing.T) {
	c := httpd().Start(t)
	defer func() {
		r := recover()
		require.NotNil(t, r, "MappedPort did not panic")
		msg := fmt.Sprint(r)
		assert.Contains(t, msg, "9999/tcp")
		assert.Contains(t, msg, "8080/tcp")
	}()
	c.MappedPort("9999")
}

func TestStopStartRestartPauseUnpause(t *testing.T) {
	c := httpd().Start(t)
	ctx := t.Context()
	require.NoError(t, c.Pause(ctx))
	info, err := c.Inspect(ctx)
	require.NoError(t, err)
	assert.True(t, info.Paused)
	require.NoError(t, c.Unpause(ctx))

	require.NoError(t, c.Stop(ctx, time.Second))
	info, err = c.Inspect(ctx)
	require.NoError(t, err)
	assert.False(t, info.Running)

	require.NoError(t, c.Start(ctx))
	assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"))

	// Restart: the engine may publish on a different host port; MappedPort follows it.
	require.NoError(t, c.Restart(ctx, time.Second))
	assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"))
	info, err = c.Inspect(ctx)
	require.NoError(t, err)
	assert.Equal(t, info.Ports["8080/tcp"], c.MappedPort("8080"))
}

func TestTerminateIsIdempotent(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Start(t)
	require.NoError(t, c.Terminate(t.Context()))
	require.NoError(t, c.Terminate(t.Context()))
	requireNoLeak(t, c.Name())
}

func TestRunWithoutTest(t *testing.T) {
	containers.RequireDocker(t)
	ctx := context.Background()
	c, err := httpd().Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"))
	require.NoError(t, c.Terminate(ctx))
	requireNoLeak(t, c.Name())
}

func TestBadInput(t *testing.T) {
	containers.RequireDocker(t)
	ctx := context.Background()
	cases := []struct {
		name string
		spec containers.Spec
		want string
	}{
		{"empty image", containers.Image(""), "empty image reference"},
		{"bad port", containers.Image(busybox).Expose("abc/tcp"), `invalid port "abc/tcp"`},
		{"bad protocol", containers.Image(busybox).Expose("80/xyz"), `unknown protocol "xyz"`},
		{"negative memory", containers.Image(busybox).Memory(-1), "memory limit -1"},
		{"relative workdir", containers.Image(busybox).WorkDir("tmp"), "not an absolute path"},
		{"bad name", containers.Image(busybox).Named("-x"), "invalid container name"},
		{"relative file", containers.Image(busybox).File("etc/x", nil, 0), "not an absolute path"},
		{"unknown image", containers.Image("containertest.invalid/nothing/here:v0").Pull(containers.PullMissing), "not found locally; pull failed"},
		{"never pull", containers.Image("containertest/no-such-image:v0").Pull(containers.PullNever), "not found locally"},
		{"missing copy dir", containers.Image(busybox).CopyDir("/no/such/dir", "/x"), "/no/such/dir"},
		{"missing bind", containers.Image(busybox).Bind("/no/such/path", "/x"), "host path does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.spec.Cmd("sleep", "60").WaitFor().Run(ctx)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	requireNoLeak(t, "ct-"+engine.SessionID()[:6])
}

func TestUnknownImageWrapsSentinel(t *testing.T) {
	containers.RequireDocker(t)
	_, err := containers.Image("containertest/no-such-image:v0").Pull(containers.PullNever).Run(context.Background())
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	assert.Contains(t, err.Error(), "containertest/no-such-image:v0")
}

func TestProcessExitsAtOnce(t *testing.T) {
	containers.RequireDocker(t)
	_, err := containers.Image(busybox).Cmd("sh", "-c", "echo boom >&2; exit 7").Expose("8080").
		StartTimeout(time.Minute).Run(context.Background())
	require.Error(t, err)
	require.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "exited with code 7")
	assert.Contains(t, err.Error(), "boom")
	requireNoLeak(t, "ct-"+engine.SessionID()[:6])
}

func TestHealthCheckConfig(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").
		HealthCheck(containers.Health{Test: []string{"true"}, Interval: 100 * time.Millisecond, Retries: 2}).
		WaitFor(wait.ForHealthy()).Start(t)
	info, err := c.Inspect(t.Context())
	require.NoError(t, err)
	require.NotNil(t, info.Health)
	assert.Equal(t, "healthy", info.Health.Status)

	// Without a health check there is no health to report (podman reports an empty
	// one).
	plain := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Start(t)
	info, err = plain.Inspect(t.Context())
	require.NoError(t, err)
	assert.Nil(t, info.Health, "health of a container without a health check")
}

func TestStartFailsTestAndCleansUp(t *testing.T) {
	// A failing Start inside a subtest must fail that subtest and leave nothing behind.
	containers.RequireDocker(t)
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ft.runCleanups()
		containers.Image(busybox).Cmd("sh", "-c", "exit 3").Expose("8080").Start(ft)
	}()
	<-done
	assert.True(t, ft.failed)
	assert.Contains(t, ft.msg, "exited with code 3")
	requireNoLeak(t, "ct-"+engine.SessionID()[:6])
}

// fakeT records a failure instead of failing the real test, and runs its cleanups on
// demand.
type fakeT struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	msg      string
	cleanups []func()
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
}
func (f *fakeT) Skipf(format string, args ...any) {
	f.Fatalf("skipped: "+format, args...)
}
func (f *fakeT) Fatal(args ...any)        { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fakeT) FailNow()                 { f.Fatalf("FailNow") }
func (f *fakeT) Failed() bool             { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeT) Cleanup(fn func())        { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeT) Logf(string, ...any)      {}
func (f *fakeT) Context() context.Context { return context.Background() }
func (f *fakeT) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// entrypointImage builds (once per process) an image with both ENTRYPOINT and CMD.
var entrypointImage = sync.OnceValues(func() (string, error) {
	ctx := context.Background()
	eng, err := engine.Get(ctx)
	if err != nil {
		return "", err
	}
	df := "FROM busybox:latest\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"image-cmd\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return "", err
	}
	tw.Write([]byte(df))
	tw.Close()
	const tag = "containertest/test-entrypoint:v1"
	resp, err := eng.Client.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{engine.LabelManaged: "true"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if bytes.Contains(out, []byte(`"error"`)) {
		return "", fmt.Errorf("build: %s", out)
	}
	return tag, nil
})

func TestCmdAndEntrypointFollowDocker(t *testing.T) {
	containers.RequireDocker(t)
	img, err := entrypointImage()
	require.NoError(t, err)
	cases := []struct {
		name string
		spec containers.Spec
		want string
	}{
		{"image defaults", containers.Image(img), "ep image-cmd\n"},
		{"cmd keeps entrypoint", containers.Image(img).Cmd("my-cmd"), "ep my-cmd\n"},
		{"entrypoint drops image cmd", containers.Image(img).Entrypoint("echo", "new-ep"), "new-ep\n"},
		{"entrypoint and cmd", containers.Image(img).Entrypoint("echo", "new-ep").Cmd("c"), "new-ep c\n"},
		{"cleared entrypoint", containers.Image(img).Entrypoint().Cmd("echo", "plain"), "plain\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.spec.WaitFor(wait.ForExit(0)).Start(t)
			logs, err := c.Logs(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tc.want, logs)
		})
	}
}

func TestUDPPort(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "60").Expose("5353/udp").WaitFor().Start(t)
	assert.Positive(t, c.MappedPort("5353/udp"))
	_, err := c.LookupPort("5353/tcp")
	assert.ErrorContains(t, err, "never exposed")
}

func TestRestartWaitsForTheNewRun(t *testing.T) {
	// The second run waits two seconds, then logs "second" before "started": a wait that counted
	// the first run's "started" would return before "second" is in the log.
	c := containers.Image(busybox).
		Cmd("sh", "-c", "if [ -f /marker ]; then sleep 2; echo second; fi; touch /marker; echo started; sleep 60").
		WaitFor(wait.ForLog("started")).
		Start(t)
	require.NoError(t, c.Restart(t.Context(), time.Second))
	logs, err := c.Logs(t.Context())
	require.NoError(t, err)
	assert.Contains(t, logs, "second\n")
	assert.Equal(t, 2, strings.Count(logs, "started\n"), logs)
}

func TestForHTTPUsesTheFirstExposedPort(t *testing.T) {
	c := httpd().WaitFor(wait.ForHTTP("/index.html")).Start(t)
	assert.Equal(t, []string{"8080/tcp"}, c.ExposedPorts())
}
