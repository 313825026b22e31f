package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/bench/tcsuite"
	"github.com/containertest/containertest/wait"
)

// buildersContext is the example image BenchmarkBuilders builds: nginx from Debian's
// package (apt-get update and install, with the apt cache mounts of the examples),
// then the site's configuration (COPY app.conf) and `nginx -t`. It is the cheapest of
// the examples' images that installs packages, and it starts without the rest of its
// stack.
var buildersContext = filepath.Join("..", "..", "examples", "webstack", "testdata", "nginx")

const (
	// buildersPort is the port nginx listens on.
	buildersPort = "80/tcp"
	// builderEnv is the library's builder switch, read at every build.
	builderEnv = "CONTAINERTEST_BUILDER"
	// roundArg is the build arg that makes a cold build miss every cached layer.
	roundArg = "BENCH_ROUND"
)

// fromLine is the Dockerfile's FROM line.
var fromLine = regexp.MustCompile(`(?m)^FROM [^\n]*\n`)

// Dockerfile variants of buildersContext.
const (
	variantMount   = "mount"   // the examples' Dockerfile, with its apt cache mounts
	variantNoMount = "nomount" // without the mounts (and the step that serves them)
)

// buildersDockerfile rewrites the example's Dockerfile. variantNoMount drops the cache
// mount flags, which the classic builder (and so testcontainers-go) cannot build, and
// the step that keeps apt's downloads for them. A non-empty round declares the build arg
// roundArg after FROM, so that every RUN after it misses the layer cache (BuildKit's and
// the classic builder's) for a new value, and gives each cache mount an id of its own
// for the round, so that a cold BuildKit build finds them empty, as on a machine's
// first build.
func buildersDockerfile(src, variant, round string) (string, error) {
	out := src
	if variant == variantNoMount {
		var err error
		if out, err = tcsuite.Classic(out); err != nil {
			return "", fmt.Errorf("dockerfile of %s: %w", buildersContext, err)
		}
	} else if round != "" {
		n := 0
		out = tcsuite.CacheMountFlag.ReplaceAllStringFunc(out, func(m string) string {
			n++
			return strings.Replace(m, "--mount=type=cache,", fmt.Sprintf("--mount=type=cache,id=bench-%s-%d,", round, n), 1)
		})
	}
	if round != "" {
		loc := fromLine.FindStringIndex(out)
		if loc == nil {
			return "", fmt.Errorf("dockerfile of %s: no FROM line", buildersContext)
		}
		out = out[:loc[1]] + "ARG " + roundArg + "\n" + out[loc[1]:]
	}
	return out, nil
}

// buildersCopy copies buildersContext into a new directory under parent, with the
// Dockerfile of variant for round (see buildersDockerfile), and returns it.
func buildersCopy(parent, name, variant, round string) (string, error) {
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(buildersContext)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", buildersContext, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := os.ReadFile(filepath.Join(buildersContext, e.Name()))
		if err != nil {
			return "", err
		}
		if e.Name() == "Dockerfile" {
			df, err := buildersDockerfile(string(body), variant, round)
			if err != nil {
				return "", err
			}
			body = []byte(df)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), body, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// appChange appends a line to the site's configuration, the one-line app change.
func appChange(dir string, n int64) error {
	f, err := os.OpenFile(filepath.Join(dir, "app.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "# change %s-%d\n", session, n)
	return errJoin(err, f.Close())
}

// withBuilder runs f with CONTAINERTEST_BUILDER set to builder. The library reads it
// at every build (not once per process), and the implementations of a benchmark run
// one after the other, so setting it around one call chooses that call's builder.
func withBuilder(builder string, f func() error) error {
	old, had := os.LookupEnv(builderEnv)
	os.Setenv(builderEnv, builder)
	defer func() {
		if had {
			os.Setenv(builderEnv, old)
		} else {
			os.Unsetenv(builderEnv)
		}
	}()
	return f()
}

// BenchmarkBuilders measures image builds of an example (buildersContext) through the
// engine's BuildKit against its classic builder. Each round runs every implementation
// once.
//
// Cold (build, start to ready included; teardown not measured): each build gets a
// fresh copy of the context whose Dockerfile declares a build arg that takes a new
// value per build, so that no RUN step finds a cached layer, and whose cache mounts
// get ids of their own, so that apt finds them empty. Ours (buildkit-cold):
// `containers.Build` with CONTAINERTEST_BUILDER=buildkit on the examples' Dockerfile.
// Ours (classic-cold): CONTAINERTEST_BUILDER=classic on a copy of that Dockerfile
// without the cache mounts, which the classic builder cannot build (and without the
// step that keeps apt's downloads for them). testcontainers-go (tc-cold):
// `FromDockerfile` on that copy too (it builds through the classic builder).
//
// Rebuild after a one-line app change (start to ready included; teardown not
// measured): a line appended to the site's configuration (app.conf, copied after the
// apt step) in a context of each implementation's own, then build and start. Ours
// (rebuild): `containers.Build` through BuildKit with the examples' Dockerfile;
// ours (rebuild-nomount): the same on the Dockerfile without the cache mounts;
// raw (rebuild): `ImageBuild` with version 2 (BuildKit, the context as a tar body: the
// docker CLI of this machine has no buildx), then create, start, inspect and a poll of
// the container's socket table until nginx listens, the floor of ours' port wait.
// Their first run is an unmeasured warm-up that builds the apt layer of each.
func BenchmarkBuilders(b *testing.B) {
	cli := dockerClient(b)
	if _, err := cli.ImageInspect(b.Context(), suiteBase); err != nil {
		b.Fatalf("the examples need %s: run scripts/test-images.sh first (%v)", suiteBase, err)
	}
	tmp := b.TempDir()
	b.Cleanup(func() { removeBuildersImages(context.WithoutCancel(b.Context()), cli) })

	var rounds atomic.Int64
	// cold builds a fresh context of variant with the builder and starts it.
	cold := func(name, variant, builder string) impl {
		return impl{name: name, noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			n := rounds.Add(1)
			round := fmt.Sprintf("%s-%d", session, n)
			dir, err := buildersCopy(tmp, fmt.Sprintf("%s-%d", name, n), variant, round)
			if err != nil {
				return 0, err
			}
			var c *containers.Container
			d, err := timed(func() error {
				return withBuilder(builder, func() (err error) {
					c, err = containers.Build(dir).BuildArg(roundArg, round).BuildLabel(labelSession, session).
						Expose(buildersPort).WaitFor(wait.ForPort(buildersPort)).Run(ctx)
					return err
				})
			})
			if err != nil {
				return 0, err
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}}
	}
	// rebuild changes the app in its context and builds and starts it through BuildKit.
	rebuild := func(name, variant string) (impl, error) {
		dir, err := buildersCopy(tmp, name, variant, "")
		if err != nil {
			return impl{}, err
		}
		return impl{name: name, run: func(ctx context.Context) (time.Duration, error) {
			if err := appChange(dir, rounds.Add(1)); err != nil {
				return 0, err
			}
			var c *containers.Container
			d, err := timed(func() error {
				return withBuilder("buildkit", func() (err error) {
					c, err = containers.Build(dir).BuildLabel(labelSession, session).
						Expose(buildersPort).WaitFor(wait.ForPort(buildersPort)).Run(ctx)
					return err
				})
			})
			if err != nil {
				return 0, err
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}}, nil
	}
	oursRebuild, err := rebuild("ours-rebuild", variantMount)
	if err != nil {
		b.Fatal(err)
	}
	oursNoMount, err := rebuild("ours-rebuild-nomount", variantNoMount)
	if err != nil {
		b.Fatal(err)
	}
	rawDir, err := buildersCopy(tmp, "raw-rebuild", variantMount, "")
	if err != nil {
		b.Fatal(err)
	}
	rawTag := "containertest-bench/nginx:raw-" + session
	rawRebuild := impl{name: "raw-rebuild", run: func(ctx context.Context) (time.Duration, error) {
		if err := appChange(rawDir, rounds.Add(1)); err != nil {
			return 0, err
		}
		var id string
		d, err := timed(func() error {
			if err := rawImageBuildWith(ctx, cli, rawDir, rawTag, nil, build.BuilderBuildKit); err != nil {
				return err
			}
			var err error
			id, _, err = rawCreateStart(ctx, cli, rawTag, nil, buildersPort)
			if err != nil {
				return err
			}
			info, err := cli.ContainerInspect(ctx, id)
			if err != nil {
				return fmt.Errorf("inspect container: %w", err)
			}
			for {
				ok, err := procListening(info.State.Pid, 80)
				if err != nil || ok {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		})
		if id != "" {
			err = errJoin(err, rawRemove(context.WithoutCancel(ctx), cli, id))
		}
		return d, err
	}}

	compare(b, false,
		oursRebuild, oursNoMount, rawRebuild,
		cold("ours-buildkit-cold", variantMount, "buildkit"),
		cold("ours-classic-cold", variantNoMount, "classic"),
		impl{name: "tc-cold", noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			n := rounds.Add(1)
			round := fmt.Sprintf("%s-%d", session, n)
			dir, err := buildersCopy(tmp, fmt.Sprintf("tc-cold-%d", n), variantNoMount, round)
			if err != nil {
				return 0, err
			}
			req := tcRequest("", nil, buildersPort, tcwait.ForListeningPort(buildersPort))
			req.FromDockerfile = testcontainers.FromDockerfile{
				Context:    dir,
				Dockerfile: "Dockerfile",
				BuildArgs:  map[string]*string{roundArg: &round},
			}
			var c testcontainers.Container
			d, err := timed(func() (err error) {
				c, err = testcontainers.GenericContainer(ctx, req)
				return err
			})
			return d, errJoin(err, tcRemove(c))
		}},
	)
}

// removeBuildersImages removes the images BenchmarkBuilders built: ours and raw carry
// labelSession; testcontainers-go removes its own at Terminate. The BuildKit cache
// records of the cold builds (their layers and cache mounts) stay in the engine's build
// cache, which its own garbage collection trims: no prune here, which would reach other
// users' cache.
func removeBuildersImages(ctx context.Context, cli *client.Client) {
	is, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelSession+"="+session))})
	if err != nil {
		return
	}
	for _, im := range is {
		_, _ = cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

// TestBuildersDockerfile checks the rewrites of the example's Dockerfile: without
// mounts no --mount flag and no keep-cache step remain, the RUN still installs nginx;
// with a round, the arg follows FROM and each cache mount has an id of its own.
func TestBuildersDockerfile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(buildersContext, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := buildersDockerfile(string(src), variantNoMount, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain, "--mount") || strings.Contains(plain, "docker-clean") {
		t.Errorf("nomount variant keeps a mount or the keep-cache step:\n%s", plain)
	}
	if !strings.Contains(plain, "apt-get install -y --no-install-recommends nginx") ||
		!regexp.MustCompile(`(?m)^RUN\s+set -eux;`).MatchString(plain) {
		t.Errorf("nomount variant lost the install step:\n%s", plain)
	}
	if !regexp.MustCompile(`(?m)^FROM \S+\nARG ` + roundArg + `\n`).MatchString(plain) {
		t.Errorf("no ARG %s after FROM:\n%s", roundArg, plain)
	}
	mount, err := buildersDockerfile(string(src), variantMount, "r1")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"id=bench-r1-1,", "id=bench-r1-2,"} {
		if strings.Count(mount, id) != 1 {
			t.Errorf("mount variant: %q not once:\n%s", id, mount)
		}
	}
	same, err := buildersDockerfile(string(src), variantMount, "")
	if err != nil || same != string(src) {
		t.Errorf("mount variant without a round changed the Dockerfile (%v):\n%s", err, same)
	}
}

// TestClassicDockerfiles checks that every example Dockerfile with cache mounts, which
// the testcontainers-go suite builds through the classic builder, loses its mounts and
// keep-cache step and keeps its install step.
func TestClassicDockerfiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "testdata", "*", "Dockerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example Dockerfiles found (%v)", err)
	}
	n := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !tcsuite.CacheMountFlag.Match(src) {
			continue
		}
		n++
		out, err := tcsuite.Classic(string(src))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.Contains(out, "--mount") || strings.Contains(out, "docker-clean") {
			t.Errorf("%s: a mount or the keep-cache step is left:\n%s", f, out)
		}
		if !strings.Contains(out, "apt-get install") {
			t.Errorf("%s: the install step is gone:\n%s", f, out)
		}
	}
	if n == 0 {
		t.Fatal("no example Dockerfile has cache mounts: the test checks nothing")
	}
}
