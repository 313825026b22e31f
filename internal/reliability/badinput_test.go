package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/leakcheck"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// badCase is one bad input. run returns the error the public API gave for it; when
// panics is set, run is expected to panic instead (a programming error the docs call a
// panic) and the panic value is checked like an error's message.
type badCase struct {
	name     string
	run      func(ctx context.Context, t *testing.T) error
	panics   bool
	ok       bool     // the call is harmless and must return nil (Terminate twice)
	sentinel error    // errors.Is(err, sentinel); nil for panics
	mentions []string // each must appear in the message: the problem and the value
}

// busybox is the image the suite's containers run.
const busybox = testimages.BusyboxRef

func run(s containers.Spec) func(context.Context, *testing.T) error {
	return func(ctx context.Context, t *testing.T) error {
		c, err := s.Run(ctx)
		if err == nil {
			_ = c.Terminate(ctx)
			return errors.New("no error")
		}
		return err
	}
}

func startAll(specs ...containers.Spec) func(context.Context, *testing.T) error {
	return func(ctx context.Context, t *testing.T) error {
		cs, err := containers.RunAll(ctx, specs...)
		for _, c := range cs {
			if c != nil {
				_ = c.Terminate(ctx)
			}
		}
		if err == nil {
			return errors.New("no error")
		}
		return err
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func upCompose(files map[string]string, f func(compose.Project) compose.Project) func(context.Context, *testing.T) error {
	return func(ctx context.Context, t *testing.T) error {
		dir := writeFiles(t, files)
		p := compose.File(filepath.Join(dir, "compose.yaml"))
		if f != nil {
			p = f(p)
		}
		st, err := p.Run(ctx)
		if err == nil {
			_ = st.Down(ctx)
			return errors.New("no error")
		}
		return err
	}
}

// running starts a plain busybox container owned by t.
func running(t *testing.T) *containers.Container {
	t.Helper()
	return containers.Image(busybox).Cmd("sleep", "300").KillOnTeardown().Start(t)
}

// terminated is a container that was started and terminated.
func terminated(ctx context.Context, t *testing.T) *containers.Container {
	t.Helper()
	c := running(t)
	if err := c.Terminate(ctx); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	return c
}

func badCases() []badCase {
	bb := containers.Image(busybox).Cmd("sleep", "300")
	inv := containers.ErrInvalidSpec
	return []badCase{
		// names and images
		{name: "empty image", run: run(containers.Image("")), sentinel: inv, mentions: []string{"empty image"}},
		{name: "image reference with spaces", run: run(containers.Image("bad image:1")), sentinel: inv, mentions: []string{"invalid image reference", `"bad image:1"`}},
		{name: "image reference upper case", run: run(containers.Image("BusyBox:latest")), sentinel: inv, mentions: []string{"invalid image reference", `"BusyBox:latest"`}},
		{name: "missing image, never pulled", run: run(containers.Image("containertest/never-there:nope").Pull(containers.PullNever)), sentinel: containers.ErrImageNotFound, mentions: []string{"containertest/never-there:nope"}},
		{name: "container name with a space", run: run(bb.Named("two words")), sentinel: inv, mentions: []string{"container name", `"two words"`}},
		{name: "container name with a leading dash", run: run(bb.Named("-x")), sentinel: inv, mentions: []string{"container name", `"-x"`}},
		{name: "container name empty", run: run(bb.Named("")), sentinel: inv, mentions: []string{"container name", `""`}},
		// ports
		{name: "port not a number", run: run(bb.Expose("http")), sentinel: inv, mentions: []string{"http"}},
		{name: "port too large", run: run(bb.Expose("70000")), sentinel: inv, mentions: []string{"70000"}},
		{name: "port zero", run: run(bb.Expose("0/tcp")), sentinel: inv, mentions: []string{"0/tcp"}},
		{name: "port negative", run: run(bb.Expose("-1")), sentinel: inv, mentions: []string{"-1"}},
		{name: "port unknown protocol", run: run(bb.Expose("80/quic")), sentinel: inv, mentions: []string{"quic"}},
		{name: "port empty", run: run(bb.Expose("")), sentinel: inv, mentions: []string{`""`}},
		{name: "unpublished port malformed", run: run(bb.ExposeUnpublished("80/tcp/x")), sentinel: inv, mentions: []string{"80/tcp/x"}},
		// env keys and labels
		{name: "env key empty", run: run(bb.Env("", "v")), sentinel: inv, mentions: []string{"environment variable", `""`}},
		{name: "env key with =", run: run(bb.Env("A=B", "v")), sentinel: inv, mentions: []string{"environment variable", `"A=B"`}},
		{name: "env key with NUL", run: run(bb.Env("A\x00B", "v")), sentinel: inv, mentions: []string{"environment variable", `A\x00B`}},
		{name: "label reserved", run: run(bb.Label("org.containertest.session", "x")), sentinel: inv, mentions: []string{"org.containertest.session"}},
		{name: "label empty key", run: run(bb.Label("", "x")), sentinel: inv, mentions: []string{"empty label key"}},
		// limits and timeouts
		{name: "memory negative", run: run(bb.Memory(-1)), sentinel: inv, mentions: []string{"memory limit", "-1"}},
		{name: "memory below engine minimum", run: run(bb.Memory(1 << 20)), sentinel: inv, mentions: []string{"memory limit", "1048576"}},
		{name: "cpus negative", run: run(bb.CPUs(-0.5)), sentinel: inv, mentions: []string{"cpu limit", "-0.5"}},
		{name: "start timeout negative", run: run(bb.StartTimeout(-time.Second)), sentinel: inv, mentions: []string{"start timeout", "-1s"}},
		{name: "graceful stop negative", run: run(bb.GracefulStop(-time.Second)), sentinel: inv, mentions: []string{"graceful stop", "-1s"}},
		{name: "health check without test", run: run(bb.HealthCheck(containers.Health{})), sentinel: inv, mentions: []string{"health check"}},
		{name: "health check negative retries", run: run(bb.HealthCheck(containers.Health{Test: []string{"true"}, Retries: -1})), sentinel: inv, mentions: []string{"health check", "negative"}},
		// mounts and files
		{name: "mount nil volume", run: run(bb.Mount(nil, "/data")), sentinel: inv, mentions: []string{"mount", "nil volume"}},
		{name: "mount at relative path", run: func(ctx context.Context, t *testing.T) error {
			return run(bb.Mount(volume.New(t), "data"))(ctx, t)
		}, sentinel: inv, mentions: []string{"mount", `"data"`}},
		{name: "mount of a removed volume", run: func(ctx context.Context, t *testing.T) error {
			v := volume.New(t)
			if err := v.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			return run(bb.Mount(v, "/data"))(ctx, t)
		}, sentinel: volume.ErrRemoved, mentions: []string{"mount"}},
		{name: "bind of a missing host path", run: run(bb.Bind("/nonexistent/containertest", "/x")), sentinel: inv, mentions: []string{"bind", "/nonexistent/containertest"}},
		{name: "bind at relative path", run: func(ctx context.Context, t *testing.T) error {
			return run(bb.Bind(t.TempDir(), "rel"))(ctx, t)
		}, sentinel: inv, mentions: []string{"bind", `"rel"`}},
		{name: "bind with TmpfsSize", run: func(ctx context.Context, t *testing.T) error {
			return run(bb.Bind(t.TempDir(), "/x", containers.TmpfsSize(1<<20)))(ctx, t)
		}, sentinel: inv, mentions: []string{"TmpfsSize", "/x"}},
		{name: "tmpfs at relative path", run: run(bb.Tmpfs("tmp")), sentinel: inv, mentions: []string{"tmpfs", `"tmp"`}},
		{name: "tmpfs read-only", run: run(bb.Tmpfs("/t", containers.ReadOnlyMount())), sentinel: inv, mentions: []string{"tmpfs /t", "ReadOnlyMount"}},
		{name: "file at relative path", run: run(bb.File("etc/x", []byte("x"), 0o644)), sentinel: inv, mentions: []string{"file", `"etc/x"`}},
		{name: "copy of a missing host dir", run: run(bb.CopyDir("/nonexistent/containertest-dir", "/x")), sentinel: inv, mentions: []string{"copy dir", "/nonexistent/containertest-dir"}},
		// nil arguments
		{name: "on nil network", run: run(bb.On(nil)), sentinel: inv, mentions: []string{"nil network"}},
		{name: "wait for nil strategy", run: run(bb.WaitFor(nil)), sentinel: inv, mentions: []string{"nil strategy"}},
		{name: "modify nil function", run: run(bb.Modify(nil)), sentinel: inv, mentions: []string{"nil function"}},
		{name: "start for nil TB", run: func(ctx context.Context, t *testing.T) error {
			_, err := bb.StartFor(ctx, nil)
			return err
		}, sentinel: nil, mentions: []string{"nil testing.TB"}},
		// wait strategies: programming errors that panic, as documented
		{name: "log regexp malformed", run: func(context.Context, *testing.T) error { wait.ForLogRegexp("("); return nil }, panics: true, mentions: []string{"ForLogRegexp", "("}},
		{name: "log times zero", run: func(context.Context, *testing.T) error { wait.ForLog("x").Times(0); return nil }, panics: true, mentions: []string{"Times", "0"}},
		{name: "exec without command", run: func(context.Context, *testing.T) error { wait.ForExec(); return nil }, panics: true, mentions: []string{"ForExec", "no command"}},
		{name: "func strategy nil", run: func(context.Context, *testing.T) error { wait.ForFunc(nil); return nil }, panics: true, mentions: []string{"ForFunc", "nil"}},
		{name: "wait any of nothing", run: run(bb.WaitFor(wait.Any()).StartTimeout(5 * time.Second)), sentinel: wait.ErrNotReady, mentions: []string{"no strategies"}},
		{name: "wait for an unexposed port", run: run(bb.WaitFor(wait.ForPort("8080/tcp")).StartTimeout(5 * time.Second)), sentinel: wait.ErrNotReady, mentions: []string{"8080/tcp"}},
		{name: "wait for a malformed port", run: run(bb.Expose("80").WaitFor(wait.ForHTTP("/").Port("eighty")).StartTimeout(5 * time.Second)), sentinel: wait.ErrNotReady, mentions: []string{"eighty"}},
		{name: "wait for exit of a process that never exits", run: run(bb.WaitFor(wait.ForExit(0)).StartTimeout(time.Second)), sentinel: wait.ErrNotReady, mentions: []string{"exit"}},
		{name: "wait for log of a process that exits", run: run(containers.Image(busybox).Cmd("sh", "-c", "echo bye; exit 3").WaitFor(wait.ForLog("never"))), sentinel: wait.ErrExited, mentions: []string{"3", "bye"}},
		// build inputs
		{name: "build empty context", run: run(containers.Build("")), sentinel: inv, mentions: []string{"empty context"}},
		{name: "build missing context", run: run(containers.Build("/nonexistent/containertest-ctx")), sentinel: inv, mentions: []string{"/nonexistent/containertest-ctx"}},
		{name: "build arg empty name", run: func(ctx context.Context, t *testing.T) error {
			return run(containers.Build(writeFiles(t, map[string]string{"Dockerfile": "FROM " + busybox + "\n"})).BuildArg("", "x"))(ctx, t)
		}, sentinel: inv, mentions: []string{"build arg", "empty name"}},
		{name: "build missing Dockerfile", run: func(ctx context.Context, t *testing.T) error {
			return run(containers.Build(writeFiles(t, map[string]string{"a": "a"})).Dockerfile("nope.Dockerfile"))(ctx, t)
		}, sentinel: inv, mentions: []string{"nope.Dockerfile"}},
		{name: "build Dockerfile unknown instruction", run: func(ctx context.Context, t *testing.T) error {
			return run(containers.Build(writeFiles(t, map[string]string{"Dockerfile": "FROM " + busybox + "\nFROBNICATE x\n"})))(ctx, t)
		}, sentinel: inv, mentions: []string{"FROBNICATE", "Dockerfile:2"}},
		{name: "build failing RUN", run: func(ctx context.Context, t *testing.T) error {
			return run(containers.Build(writeFiles(t, map[string]string{"Dockerfile": "FROM " + busybox + "\nRUN echo broken-step && exit 7\n"})))(ctx, t)
		}, sentinel: containers.ErrBuildFailed, mentions: []string{"exit 7", "broken-step"}},
		{name: "build unknown target", run: func(ctx context.Context, t *testing.T) error {
			return run(containers.Build(writeFiles(t, map[string]string{"Dockerfile": "FROM " + busybox + " AS a\n"})).Target("zzz"))(ctx, t)
		}, sentinel: inv, mentions: []string{"zzz"}},
		// groups
		{name: "group depends on unknown", run: startAll(bb.Named("ct-rel-a").DependsOn("ghost")), sentinel: inv, mentions: []string{"ghost"}},
		{name: "group dependency cycle", run: startAll(bb.Named("ct-rel-a").DependsOn("ct-rel-b"), bb.Named("ct-rel-b").DependsOn("ct-rel-a")), sentinel: inv, mentions: []string{"cycle", "ct-rel-a"}},
		{name: "group negative MaxParallel", run: func(ctx context.Context, t *testing.T) error {
			_, err := containers.Group{MaxParallel: -1}.RunAll(ctx, bb)
			return err
		}, sentinel: inv, mentions: []string{"MaxParallel", "-1"}},
		// networks
		{name: "network subnet malformed", run: createNet(network.Subnet("10.1.2.0/33")), sentinel: network.ErrInvalidOption, mentions: []string{"10.1.2.0/33"}},
		{name: "network subnet host bits", run: createNet(network.Subnet("10.1.2.3/24")), sentinel: network.ErrInvalidOption, mentions: []string{"10.1.2.3/24"}},
		{name: "network subnet no room", run: createNet(network.Subnet("10.1.2.0/32")), sentinel: network.ErrInvalidOption, mentions: []string{"10.1.2.0/32"}},
		{name: "network label reserved", run: createNet(network.Label("org.containertest.pid", "1")), sentinel: network.ErrInvalidOption, mentions: []string{"org.containertest.pid"}},
		{name: "network unknown driver", run: createNet(network.Driver("containertest-nodriver")), sentinel: nil, mentions: []string{"containertest-nodriver"}},
		{name: "network lookup missing", run: func(ctx context.Context, t *testing.T) error {
			_, err := network.Lookup(ctx, "containertest-no-such-network")
			return err
		}, sentinel: network.ErrNotFound, mentions: []string{"containertest-no-such-network"}},
		{name: "network remove of a found network", run: func(ctx context.Context, t *testing.T) error {
			n, err := network.Lookup(ctx, "bridge")
			if err != nil {
				t.Fatal(err)
			}
			return n.Remove(ctx)
		}, sentinel: network.ErrNotManaged, mentions: []string{"bridge"}},
		{name: "network remove while in use", run: func(ctx context.Context, t *testing.T) error {
			n := network.New(t)
			c := containers.Image(busybox).Cmd("sleep", "300").On(n).KillOnTeardown().Start(t)
			err := n.Remove(ctx)
			if err != nil && !strings.Contains(err.Error(), c.Name()) {
				return fmt.Errorf("does not name %s: %w", c.Name(), err)
			}
			return err
		}, sentinel: network.ErrInUse, mentions: []string{"in use"}},
		// volumes
		{name: "volume label reserved", run: createVol(volume.Label("org.containertest.host", "x")), sentinel: volume.ErrInvalidOption, mentions: []string{"org.containertest.host"}},
		{name: "volume remove while in use", run: func(ctx context.Context, t *testing.T) error {
			v := volume.New(t)
			containers.Image(busybox).Cmd("sleep", "300").Mount(v, "/data").KillOnTeardown().Start(t)
			return v.Remove(ctx)
		}, sentinel: volume.ErrInUse, mentions: []string{"in use"}},
		// calls on containers
		{name: "mapped port never exposed", run: func(ctx context.Context, t *testing.T) error {
			running(t).MappedPort("9999")
			return nil
		}, panics: true, mentions: []string{"9999"}},
		{name: "lookup port never exposed", run: func(ctx context.Context, t *testing.T) error {
			_, err := running(t).LookupPort("9999")
			return err
		}, sentinel: nil, mentions: []string{"9999"}},
		{name: "stop negative timeout", run: func(ctx context.Context, t *testing.T) error {
			return running(t).Stop(ctx, -time.Second)
		}, sentinel: nil, mentions: []string{"-1s"}},
		{name: "connect nil network", run: func(ctx context.Context, t *testing.T) error {
			return running(t).Connect(ctx, nil)
		}, sentinel: nil, mentions: []string{"nil network"}},
		{name: "copy to relative path", run: func(ctx context.Context, t *testing.T) error {
			return running(t).CopyTo(ctx, "rel/x", []byte("x"), 0o644)
		}, sentinel: nil, mentions: []string{"rel/x"}},
		{name: "container exec without command", run: func(ctx context.Context, t *testing.T) error {
			_, err := running(t).Exec(ctx)
			return err
		}, sentinel: nil, mentions: []string{"empty command"}},
		{name: "exec on a terminated container", run: func(ctx context.Context, t *testing.T) error {
			c := terminated(ctx, t)
			_, err := c.Exec(ctx, "true")
			return err
		}, sentinel: nil, mentions: []string{"exec", "terminated"}},
		{name: "start of a terminated container", run: func(ctx context.Context, t *testing.T) error {
			return terminated(ctx, t).Start(ctx)
		}, sentinel: nil, mentions: []string{"start", "terminated"}},
		{name: "terminate twice", run: func(ctx context.Context, t *testing.T) error {
			return terminated(ctx, t).Terminate(ctx)
		}, ok: true},
		{name: "terminate concurrently", run: func(ctx context.Context, t *testing.T) error {
			c := running(t)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = c.Terminate(ctx) }()
			}
			wg.Wait()
			return errors.Join(errs...)
		}, ok: true},
		// compose
		{name: "compose missing file", run: func(ctx context.Context, t *testing.T) error {
			st, err := compose.File("/nonexistent/containertest/compose.yaml").Run(ctx)
			if err == nil {
				_ = st.Down(ctx)
			}
			return err
		}, sentinel: compose.ErrInvalid, mentions: []string{"/nonexistent/containertest/compose.yaml"}},
		{name: "compose malformed yaml", run: upCompose(map[string]string{"compose.yaml": "services: [\n"}, nil), sentinel: compose.ErrInvalid, mentions: []string{"compose.yaml"}},
		{name: "compose unsupported key", run: upCompose(map[string]string{"compose.yaml": "services:\n  a:\n    image: " + busybox + "\n    deploy:\n      mode: global\n"}, nil), sentinel: compose.ErrUnsupported, mentions: []string{"global"}},
		{name: "compose unknown service selected", run: upCompose(map[string]string{"compose.yaml": "services:\n  a:\n    image: " + busybox + "\n"}, func(p compose.Project) compose.Project { return p.Services("ghost") }), sentinel: compose.ErrInvalid, mentions: []string{"ghost"}},
		{name: "compose With unknown service", run: upCompose(map[string]string{"compose.yaml": "services:\n  a:\n    image: " + busybox + "\n"}, func(p compose.Project) compose.Project {
			return p.With("ghost", func(s containers.Spec) containers.Spec { return s })
		}), sentinel: compose.ErrInvalid, mentions: []string{"ghost"}},
		{name: "compose port malformed", run: upCompose(map[string]string{"compose.yaml": "services:\n  a:\n    image: " + busybox + "\n    ports: [\"http\"]\n"}, nil), sentinel: compose.ErrInvalid, mentions: []string{"http"}},
		{name: "compose service image missing", run: upCompose(map[string]string{"compose.yaml": "services:\n  a:\n    image: containertest/never-there:nope\n    pull_policy: never\n"}, nil), sentinel: containers.ErrImageNotFound, mentions: []string{"containertest/never-there:nope"}},
	}
}

func createNet(opts ...network.Option) func(context.Context, *testing.T) error {
	return func(ctx context.Context, t *testing.T) error {
		n, err := network.Create(ctx, opts...)
		if err == nil {
			_ = n.Remove(ctx)
			return errors.New("no error")
		}
		return err
	}
}

func createVol(opts ...volume.Option) func(context.Context, *testing.T) error {
	return func(ctx context.Context, t *testing.T) error {
		v, err := volume.Create(ctx, opts...)
		if err == nil {
			_ = v.Remove(ctx)
			return errors.New("no error")
		}
		return err
	}
}

// TestBadInput tries every bad input: each must fail with an error (or, where the docs
// say so, a panic) that names the problem and the value and wraps the right sentinel,
// and leave nothing of this session on the engine.
func TestBadInput(t *testing.T) {
	testimages.Busybox(t)
	cases := badCases()
	if len(cases) < 40 {
		t.Fatalf("only %d bad-input cases; the suite promises at least 40", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var err error
			var panicked any
			func() {
				defer func() { panicked = recover() }()
				err = tc.run(ctx, t)
			}()
			if tc.panics {
				if panicked == nil {
					t.Fatalf("no panic (err %v)", err)
				}
				msg := fmt.Sprint(panicked)
				for _, m := range tc.mentions {
					if !strings.Contains(msg, m) {
						t.Errorf("panic %q does not mention %q", msg, m)
					}
				}
				return
			}
			if panicked != nil {
				t.Fatalf("panic: %v", panicked)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error does not wrap %q", tc.sentinel)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q", m)
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if leaks := leakcheck.Session(ctx); len(leaks) > 0 {
			t.Errorf("%s: left on the engine: %s", tc.name, strings.Join(leaks, "; "))
		}
		cancel()
	}
}
