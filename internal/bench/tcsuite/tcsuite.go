// Package tcsuite and the packages under it are the example suites of this project
// (../../../examples: postgres, migrations, webstack, nginx) written again with
// testcontainers-go, for BenchmarkSuite in internal/bench, which runs both suites end
// to end and compares their wall times.
//
// Each package here mirrors one example package: the same tests, the same
// assertions, the same Dockerfiles and test data (read from the examples' testdata by
// relative path, never copied), written the way testcontainers-go's documentation
// tells a user to: testcontainers.Run with FromDockerfile, its wait strategies, its
// network package, CleanupContainer and CleanupNetwork. Where testcontainers-go cannot
// express what the example does, the test says so in a comment at that place.
//
// The suites run only when BENCH_TCSUITE=1 (BenchmarkSuite sets it): each builds its
// images from scratch on every start, which takes many minutes, and `go test ./...` in
// internal/bench should not do that by surprise.
//
// What this package adds to a plain testcontainers-go suite, none of which changes
// what is measured:
//
//   - Main sets TESTCONTAINERS_RYUK_DISABLED=true (its reaper image cannot be pulled:
//     there is no registry) and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (a stray
//     /.dockerenv makes it guess a gateway address) unless they are set.
//   - Labels puts BENCH_SESSION on everything the suite creates, so that the benchmark
//     can prove that a run left nothing behind and remove what a failed run left.
//   - Loopback publishes ports on 127.0.0.1 only, as the examples do.
//   - Dockerfile adds one build argument that keeps the engine's classic builder
//     from reusing the layers of containertest's cached images of the same Dockerfiles
//     (see IsolationArg).
package tcsuite

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	testcontainers "github.com/testcontainers/testcontainers-go"
)

// Examples is the directory of this project's example suites, relative to the
// directory of a package under tcsuite (go test runs a package's tests there).
var Examples = filepath.Join("..", "..", "..", "..", "examples")

// Testdata returns the path of a file or directory in an example package's testdata,
// relative to the directory of a package under tcsuite.
func Testdata(pkg string, elem ...string) string {
	return filepath.Join(append([]string{Examples, pkg, "testdata"}, elem...)...)
}

// Main is the TestMain of every suite package: it runs the tests only when
// BENCH_TCSUITE=1 and sets the environment testcontainers-go needs on this machine.
func Main(m *testing.M) {
	if os.Getenv("BENCH_TCSUITE") != "1" {
		fmt.Println("tcsuite: not run: set BENCH_TCSUITE=1 (BenchmarkSuite in internal/bench does)")
		os.Exit(0)
	}
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	code := m.Run()
	removeContexts()
	os.Exit(code)
}

// LabelSession is the label that carries BENCH_SESSION; internal/bench uses the same
// key for what its own benchmarks create.
const LabelSession = "containertest.bench.session"

// Labels returns the labels for containers, networks and volumes of the suite: the
// benchmark's session, when it set one.
func Labels() map[string]string {
	s := os.Getenv("BENCH_SESSION")
	if s == "" {
		return map[string]string{}
	}
	return map[string]string{LabelSession: s}
}

// IsolationArg is a build argument that every image build of this process passes.
//
// containertest's build cache keeps the images it built, layers included, and the
// engine's classic builder reuses any local layer whose parent and instruction match:
// without this argument, testcontainers-go's builds of the examples' Dockerfiles
// would find containertest's cached layers and take a second instead of minutes, a
// speed no testcontainers-go user has. no_proxy is one of the engine's predefined
// build arguments: it needs no ARG line in the Dockerfile, and the classic builder
// makes it part of the cache key of every RUN step. Its value is unique per test
// process, so that the builds of one process share layers among themselves, as a
// testcontainers-go user's builds do, and nothing else. With no proxy set it changes
// nothing in a build: it only exempts hosts from a proxy.
//
// Under KeepImageEnv the value is that variable's instead, the same in every process
// of one benchmark run, so that the builds of later processes find the layers of
// earlier ones (and still not containertest's).
var IsolationArg = [2]string{"no_proxy", isolationValue()}

func isolationValue() string {
	if id := os.Getenv(KeepImageEnv); id != "" {
		return "tcsuite-keep-" + id + ".invalid"
	}
	return "tcsuite-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".invalid"
}

// KeepImageEnv, when set (to an id of the benchmark run), runs the suite in
// testcontainers-go's fairest configuration for builds: FromDockerfile with KeepImage,
// so that Terminate leaves the built image and its layers behind and the engine's
// layer cache serves the next build of an unchanged context. The images are tagged
// KeepImageRepo/<context dir>:<id>-<args hash>; the benchmark removes them at its end.
const KeepImageEnv = "BENCH_TC_KEEP_IMAGE"

// KeepImageRepo is the repository prefix of the images kept under KeepImageEnv.
const KeepImageRepo = "tcsuite-keep"

// Dockerfile returns the build of the Dockerfile in the build context dir with
// the given build arguments ("KEY", "value", ...), as testcontainers-go's
// FromDockerfile describes it, plus IsolationArg. testcontainers-go builds through
// the engine's classic builder, which cannot build the examples' apt cache mounts
// (RUN --mount=type=cache): where the Dockerfile has them, the build is of a copy of
// the context whose Dockerfile has them removed (see Classic), the Dockerfile a
// testcontainers-go user would have to write.
func Dockerfile(dir string, args ...string) testcontainers.FromDockerfile {
	if c, err := classicContext(dir); err != nil {
		// The build of the original context then fails on its cache mounts; this
		// line says why it was not rewritten.
		fmt.Fprintf(os.Stderr, "tcsuite: %v\n", err)
	} else {
		dir = c
	}
	ba := map[string]*string{IsolationArg[0]: &IsolationArg[1]}
	for i := 0; i+1 < len(args); i += 2 {
		v := args[i+1]
		ba[args[i]] = &v
	}
	fd := testcontainers.FromDockerfile{Context: dir, Dockerfile: "Dockerfile", BuildArgs: ba}
	if id := os.Getenv(KeepImageEnv); id != "" {
		h := fnv.New32a()
		for _, a := range args {
			h.Write([]byte(a))
			h.Write([]byte{0})
		}
		fd.KeepImage = true
		fd.Repo = KeepImageRepo + "/" + strings.ToLower(filepath.Base(filepath.Clean(dir)))
		fd.Tag = fmt.Sprintf("%s-%08x", id, h.Sum32())
	}
	return fd
}

// Loopback binds the given container ports to random ports of 127.0.0.1 instead of
// every interface, as the examples do. testcontainers-go publishes every port a
// request exposes and, when a request exposes none, every port the image EXPOSEs; list
// those too, so that they are not reachable from the network either.
func Loopback(ports ...string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for _, p := range ports {
			hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	})
}

var (
	// CacheMountFlag is one `--mount=type=cache,...` flag of a RUN, with the line
	// continuation after it.
	CacheMountFlag = regexp.MustCompile(`--mount=type=cache,(\S+)\s*(\\\n\s*)?`)
	// keepCacheStep is the RUN of the examples that keeps apt's downloads for the
	// cache mounts: useful only with them.
	keepCacheStep = regexp.MustCompile(`(?m)^RUN rm -f /etc/apt/apt\.conf\.d/docker-clean;[^\n]*\\\n[^\n]*\n`)
)

// Classic rewrites a Dockerfile of the examples for the classic builder: without its
// apt cache mounts and the step that keeps apt's downloads for them. The image is the
// same; only a rebuild that reruns apt is slower.
func Classic(dockerfile string) (string, error) {
	out := keepCacheStep.ReplaceAllString(dockerfile, "")
	out = CacheMountFlag.ReplaceAllString(out, "")
	if strings.Contains(out, "--mount") {
		return "", errors.New("a --mount flag is left after removing the cache mounts")
	}
	return out, nil
}

var (
	contextsMu  sync.Mutex
	contextsDir string
	contexts    = map[string]string{} // context dir -> its classic copy
)

// classicContext returns dir, or, when its Dockerfile has cache mounts, a copy of dir
// (made once per process, removed by Main) with the Dockerfile of Classic.
func classicContext(dir string) (string, error) {
	body, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil || !CacheMountFlag.Match(body) {
		return dir, nil
	}
	contextsMu.Lock()
	defer contextsMu.Unlock()
	if c, ok := contexts[dir]; ok {
		return c, nil
	}
	df, err := Classic(string(body))
	if err != nil {
		return "", fmt.Errorf("dockerfile of %s: %w", dir, err)
	}
	if contextsDir == "" {
		if contextsDir, err = os.MkdirTemp("", "tcsuite-contexts-"); err != nil {
			return "", err
		}
	}
	c, err := os.MkdirTemp(contextsDir, filepath.Base(filepath.Clean(dir))+"-")
	if err != nil {
		return "", err
	}
	// The copy keeps the directory's name, which KeepImage tags use.
	c = filepath.Join(c, filepath.Base(filepath.Clean(dir)))
	if err := os.CopyFS(c, os.DirFS(dir)); err != nil {
		return "", fmt.Errorf("copy the context %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(c, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	contexts[dir] = c
	return c, nil
}

// removeContexts removes the copies classicContext made.
func removeContexts() {
	contextsMu.Lock()
	defer contextsMu.Unlock()
	if contextsDir != "" {
		_ = os.RemoveAll(contextsDir)
	}
}
