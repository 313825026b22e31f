package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/containertest/containertest/internal/bench/tcsuite"
	"github.com/containertest/containertest/internal/engine"
)

// The example suites BenchmarkSuite runs: the packages of ../../examples (ours) and
// their twins under tcsuite (testcontainers-go), in the order `go test ./...` lists
// them. Paths are relative to this package's directory, where the benchmarks run.
var (
	suitePackages = []string{"migrations", "nginx", "postgres", "webstack"}
	suiteModules  = map[string]string{"ours": filepath.Join("..", "..", "examples"), "tc": "tcsuite"}
	// suiteBinary names the suite whose binaries an implementation runs: tc-keep is
	// the testcontainers-go suite with tcsuite.KeepImageEnv set.
	suiteBinary = map[string]string{"ours": "ours", "tc": "tc", "tc-keep": "tc"}
)

const (
	// suiteBase is the base image of every Dockerfile of the examples.
	suiteBase = "containertest/debian:bookworm"
	// suiteTimeout bounds one run of one implementation's whole suite.
	suiteTimeout = 45 * time.Minute
)

// BenchmarkSuite measures the example suites end to end, as a user runs them: ours,
// the packages of examples/ built on containertest, against the same suites written
// with testcontainers-go (tcsuite/). Both suites' test binaries are compiled once per
// process, outside what is measured (`go test -c`). A run of one implementation then
// starts each of its four binaries as a fresh process, one after the other (like
// `go test -p 1 ./...`; inside a binary the tests run in parallel as usual), and the
// figure is the wall time from the first start to the last exit. A failing,
// skipping or leaking suite fails the benchmark, with its output.
//
// Fresh processes make each implementation pay what its users pay: ours finds the
// images in its build cache, which outlives processes; testcontainers-go builds an
// image on every start (FromDockerfile) and removes it at Terminate.
//
// The first time the benchmark runs in a process, ours runs once unmeasured (a
// warm-up): its build cache then holds the images, as on any machine after the first
// run. When that warm-up had to build images, its time is reported once, as
// "ours-cold-ms". testcontainers-go has no state that a warm-up would prepare, so it
// gets none. There is no raw Docker API implementation of a suite.
//
// Besides "ours-ms", "tc-ms" and "ours/tc", the benchmark reports each package's time
// ("ours-postgres-ms", ...) and logs, per run, each test's time and the number of
// image builds.
func BenchmarkSuite(b *testing.B) {
	cli := dockerClient(b)
	if _, err := cli.ImageInspect(b.Context(), suiteBase); err != nil {
		b.Fatalf("the examples need %s: run scripts/test-images.sh first (%v)", suiteBase, err)
	}
	bins, err := compileSuites(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	pkgTimes := map[string][]time.Duration{}
	record := func(impl string, r suiteRun) {
		for _, p := range suitePackages {
			pkgTimes[impl+"-"+p] = append(pkgTimes[impl+"-"+p], r.pkgs[p].wall)
		}
	}

	var cold time.Duration
	suiteWarm.Do(func() {
		r, err := runSuite(b.Context(), cli, "ours", bins["ours"])
		if err != nil {
			b.Fatalf("ours (warm-up): %v", err)
		}
		state := "warm build cache: nothing built"
		if r.builds > 0 {
			state = fmt.Sprintf("cold build cache: %d images built", r.builds)
			cold = r.wall
		}
		b.Logf("warm-up, unmeasured: %s (%s)", r, state)
	})

	// testcontainers-go with KeepImage: its first run builds every image (its cold
	// figure, "tc-cold-ms"); later runs find the layers in the engine's cache.
	var tcCold time.Duration
	suiteWarmTC.Do(func() {
		r, err := runSuite(b.Context(), cli, "tc-keep", bins["tc"])
		if err != nil {
			b.Fatalf("tc-keep (warm-up): %v", err)
		}
		tcCold = r.wall
		b.Logf("warm-up of testcontainers-go with KeepImage, unmeasured: %s", r)
		cleanups = append(cleanups, removeKeptImages)
	})

	compare(b, true,
		impl{name: "tc-keep", noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			r, err := runSuite(ctx, cli, "tc-keep", bins["tc"])
			if err != nil {
				return 0, err
			}
			b.Logf("%s", r)
			record("tc-keep", r)
			return r.wall, nil
		}},
		impl{name: "ours", noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			r, err := runSuite(ctx, cli, "ours", bins["ours"])
			if err != nil {
				return 0, err
			}
			b.Logf("%s", r)
			record("ours", r)
			return r.wall, nil
		}},
		impl{name: "tc", noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			r, err := runSuite(ctx, cli, "tc", bins["tc"])
			if err != nil {
				return 0, err
			}
			b.Logf("%s", r)
			record("tc", r)
			return r.wall, nil
		}},
	)
	for _, impl := range []string{"ours", "tc", "tc-keep"} {
		for _, p := range suitePackages {
			b.ReportMetric(ms(median(pkgTimes[impl+"-"+p])), impl+"-"+p+"-ms")
		}
	}
	if cold > 0 {
		b.ReportMetric(ms(cold), "ours-cold-ms")
	}
	if tcCold > 0 {
		b.ReportMetric(ms(tcCold), "tc-cold-ms")
	}
}

// removeKeptImages removes the images the testcontainers-go suite kept under
// tcsuite.KeepImageEnv in this process.
func removeKeptImages(ctx context.Context, cli *client.Client) {
	is, err := cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return
	}
	for _, im := range is {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, tcsuite.KeepImageRepo+"/") && strings.Contains(tag, ":"+session+"-") {
				_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}

var (
	suiteWarm    sync.Once
	suiteWarmTC  sync.Once
	suiteCompile sync.Once
	suiteBins    map[string]map[string]string // implementation -> package -> binary
	suiteErr     error
)

// compileSuites compiles the test binaries of both suites once per process into a
// temporary directory that TestMain removes, and returns them by implementation and
// package.
func compileSuites(ctx context.Context) (map[string]map[string]string, error) {
	suiteCompile.Do(func() {
		dir, err := os.MkdirTemp("", "bench-suite-")
		if err != nil {
			suiteErr = err
			return
		}
		cleanups = append(cleanups, func(context.Context, *client.Client) { os.RemoveAll(dir) })
		bins := map[string]map[string]string{}
		for impl, mod := range suiteModules {
			out := filepath.Join(dir, impl) + string(filepath.Separator)
			args := []string{"test", "-c", "-o", out}
			for _, p := range suitePackages {
				args = append(args, "./"+p)
			}
			cmd := exec.CommandContext(ctx, "go", args...)
			cmd.Dir = mod
			if msg, err := cmd.CombinedOutput(); err != nil {
				suiteErr = fmt.Errorf("compile the %s suite: go %s: %v\n%s", impl, strings.Join(args, " "), err, msg)
				return
			}
			bins[impl] = map[string]string{}
			for _, p := range suitePackages {
				bins[impl][p] = filepath.Join(out, p+".test")
			}
		}
		suiteBins = bins
	})
	return suiteBins, suiteErr
}

// A suiteRun is one run of one implementation's suite.
type suiteRun struct {
	impl   string
	wall   time.Duration
	pkgs   map[string]pkgRun
	builds int
}

// A pkgRun is one run of one package's test binary.
type pkgRun struct {
	wall   time.Duration
	tests  []testTime
	builds int
}

type testTime struct {
	name string
	d    time.Duration
}

func (r suiteRun) String() string {
	var w strings.Builder
	fmt.Fprintf(&w, "%s: %.1f s, image builds: %d", r.impl, r.wall.Seconds(), r.builds)
	for _, p := range suitePackages {
		pr := r.pkgs[p]
		fmt.Fprintf(&w, "; %s %.1f s [builds: %d", p, pr.wall.Seconds(), pr.builds)
		for _, t := range pr.tests {
			fmt.Fprintf(&w, ", %s %.1f s", t.name, t.d.Seconds())
		}
		w.WriteString("]")
	}
	return w.String()
}

var (
	// testLine is a top-level test's result line in -test.v output.
	testLine = regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): (\S+) \((\d+(?:\.\d+)?)s\)$`)
	// buildLine marks the start of one image build in each implementation's output:
	// ours logs the steps of a build (only when its cache misses), testcontainers-go
	// logs every build it starts.
	buildLine = map[string]*regexp.Regexp{
		"ours": regexp.MustCompile(`containers: build \S+: step 1/`),
		"tc":   regexp.MustCompile(`Building image `),
	}
)

// runSuite runs the binaries of one implementation, one package after the other,
// each as a fresh process in its package's directory, and checks that each passed
// and left nothing behind.
func runSuite(ctx context.Context, cli *client.Client, impl string, bins map[string]string) (suiteRun, error) {
	ctx, cancel := context.WithTimeout(ctx, suiteTimeout)
	defer cancel()
	env := append(os.Environ(),
		"CONTAINERTEST_REQUIRE_DOCKER=1",
		"BENCH_TCSUITE=1",
		"BENCH_SESSION="+session,
	)
	if impl == "tc-keep" {
		env = append(env, tcsuite.KeepImageEnv+"="+session)
	}
	r := suiteRun{impl: impl, pkgs: map[string]pkgRun{}}
	t0 := time.Now()
	for _, p := range suitePackages {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, bins[p], "-test.v", "-test.count=1", "-test.timeout="+suiteTimeout.String())
		cmd.Dir = filepath.Join(suiteModules[suiteBinary[impl]], p)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 10 * time.Second
		start := time.Now()
		err := cmd.Run()
		pr := pkgRun{wall: time.Since(start), builds: len(buildLine[suiteBinary[impl]].FindAllIndex(out.Bytes(), -1))}
		var failed []string
		for _, m := range testLine.FindAllSubmatch(out.Bytes(), -1) {
			if string(m[1]) != "PASS" {
				failed = append(failed, string(m[2])+" ("+strings.ToLower(string(m[1]))+")")
			}
			s, _ := strconv.ParseFloat(string(m[3]), 64)
			pr.tests = append(pr.tests, testTime{string(m[2]), time.Duration(s * float64(time.Second))})
		}
		switch {
		case err == nil && len(failed) == 0 && len(pr.tests) == 0:
			err = errors.New("no test ran")
		case err == nil && len(failed) > 0:
			err = errors.New("not passed: " + strings.Join(failed, ", "))
		}
		if lerr := leftovers(context.WithoutCancel(ctx), cli, impl, cmd.Process); lerr != nil {
			err = errors.Join(err, lerr)
		}
		if err != nil {
			return r, fmt.Errorf("%s suite, package %s: %w; its output (last 200 lines):\n%s", impl, p, err, lastLines(out.String(), 200))
		}
		r.pkgs[p] = pr
		r.builds += pr.builds
		// A run takes minutes: say how far it got (on stderr, which scripts/bench.sh
		// shows and does not keep).
		fmt.Fprintf(os.Stderr, "bench: suite %s: %s %.1f s, builds: %d\n", impl, p, pr.wall.Seconds(), pr.builds)
	}
	r.wall = time.Since(t0)
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// leftovers finds what one test process of impl left on the engine, removes it and
// returns an error that names it. Ours labels everything with the creating process's
// pid and host; the testcontainers-go suite labels its containers, networks, volumes
// and the images it builds with this process's session (BENCH_SESSION). Ours' build
// cache images are meant to outlive the run and carry neither.
func leftovers(ctx context.Context, cli *client.Client, impl string, proc *os.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var f filters.Args
	switch {
	case impl == "tc" || impl == "tc-keep":
		f = filters.NewArgs(filters.Arg("label", tcsuite.LabelSession+"="+session))
	case proc != nil:
		f = filters.NewArgs(
			filters.Arg("label", engine.LabelPID+"="+strconv.Itoa(proc.Pid)),
			filters.Arg("label", engine.LabelHost+"="+engine.HostName()),
		)
	default:
		return nil // the process did not start
	}
	var left []string
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	errs = append(errs, err)
	for _, c := range cs {
		left = append(left, "container "+strings.TrimPrefix(strings.Join(c.Names, ","), "/"))
		errs = append(errs, cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, n := range ns {
		left = append(left, "network "+n.Name)
		errs = append(errs, cli.NetworkRemove(ctx, n.ID))
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, v := range vs.Volumes {
		left = append(left, "volume "+v.Name)
		errs = append(errs, cli.VolumeRemove(ctx, v.Name, true))
	}
	if impl == "tc" {
		is, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
		errs = append(errs, err)
		for _, im := range is {
			if slices.ContainsFunc(im.RepoTags, func(t string) bool { return strings.HasPrefix(t, tcsuite.KeepImageRepo+"/") }) {
				continue // kept on purpose by a tc-keep run; removed at the end
			}
			left = append(left, "image "+strings.Join(im.RepoTags, ","))
			_, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
			errs = append(errs, err)
		}
	}
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind (now removed): %s", strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}
