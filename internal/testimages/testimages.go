// Package testimages makes the images the framework's own tests and examples need on a
// machine without a registry, where nothing can be pulled.
//
//   - Busybox makes sure busybox:latest exists, importing the host's static busybox
//     (Debian's busybox-static package) when it is missing. scripts/test-images.sh does
//     the same from the shell; keep the two in step.
//   - GoProgram compiles a Go main package (normally test data) with CGO_ENABLED=0 into
//     a FROM scratch image, tagged by the binary's content so that asking again is
//     cheap and gives the same image.
//
// Both skip the test when no engine answers, or fail it when
// CONTAINERTEST_REQUIRE_DOCKER=1.
//
//	func TestServer(t *testing.T) {
//		ref := testimages.GoProgram(t, "testdata/server")
//		c := containers.Image(ref).Expose("8080/tcp").WaitFor(wait.ForPort("8080/tcp")).Start(t)
//		...
//	}
package testimages

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/engine/docker/jsonmessage"
)

// BusyboxRef is the image Busybox provides.
const BusyboxRef = "busybox:latest"

// Labels on images made by GoProgram, besides engine.LabelManaged. The images are shared
// by every test process on the machine and outlive them, so they carry no session,
// pid or process-start labels: nothing that sweeps dead sessions may take them.
const (
	// LabelProgram is the base name of the package directory the program came from.
	LabelProgram = engine.LabelPrefix + "testimage.program"
	// LabelBinary is the hex SHA-256 of the program binary (the tag holds a prefix).
	LabelBinary = engine.LabelPrefix + "testimage.binary-sha256"
)

// opTimeout bounds the engine work of one helper call (an import or a build).
const opTimeout = 5 * time.Minute

// Engine returns the process's Docker engine. When none answers, it skips the test, or
// fails it when CONTAINERTEST_REQUIRE_DOCKER is set (to anything but "", "0", "false").
func Engine(t testing.TB) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		engine.FailOrSkip(t, "testimages", err)
	}
	return e
}

// IsPodman reports whether the engine is podman's Docker-compatible API; it skips or
// fails the test as Engine does when no engine answers.
func IsPodman(t testing.TB) bool {
	t.Helper()
	podman, err := Engine(t).Podman(t.Context())
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	return podman
}

var busyboxMu sync.Mutex

// Busybox makes sure busybox:latest exists on the engine and returns its reference.
// When it is missing, it imports the host's static busybox binary as the image (the
// same image scripts/test-images.sh makes); without one it fails the test and says how
// to get it.
func Busybox(t testing.TB) string {
	t.Helper()
	e := Engine(t)
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if err := ensureBusybox(ctx, e.Client, BusyboxRef); err != nil {
		t.Fatalf("testimages: %v\n(install the busybox-static package and run scripts/test-images.sh)", err)
	}
	return BusyboxRef
}

// ensureBusybox imports the host's busybox as ref unless ref exists.
func ensureBusybox(ctx context.Context, cli engine.API, ref string) error {
	busyboxMu.Lock()
	defer busyboxMu.Unlock()
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return err
	}
	arch, err := serverArch(ctx, cli)
	if err != nil {
		return err
	}
	bin, err := findStaticBusybox(arch)
	if err != nil {
		return fmt.Errorf("make %s: %w", ref, err)
	}
	rootfs, err := busyboxRootfs(ctx, bin)
	if err != nil {
		return fmt.Errorf("make %s: %w", ref, err)
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: rootfs, SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{"ENV PATH=/bin", `CMD ["sh"]`}})
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(rc, &out, 0, false, nil); err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	return nil
}

// busyboxCandidates are where Debian's busybox-static (and others) put the binary.
var busyboxCandidates = []string{"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox"}

// findStaticBusybox returns the path of a statically linked busybox for arch (a GOARCH
// name). A dynamically linked one (Debian's plain busybox package) would not run in an
// image without a C library.
func findStaticBusybox(arch string) (string, error) {
	paths := busyboxCandidates
	if p, err := exec.LookPath("busybox"); err == nil {
		paths = append([]string{p}, paths...)
	}
	var reasons []string
	for _, p := range paths {
		err := checkStatic(p, arch)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			reasons = append(reasons, err.Error())
		}
	}
	if len(reasons) == 0 {
		return "", errors.New("find busybox: no busybox binary on this machine")
	}
	return "", fmt.Errorf("find busybox: no usable binary: %s", strings.Join(reasons, "; "))
}

// elfMachines maps GOARCH names to ELF machine types.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"386":     elf.EM_386,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkStatic reports why the ELF binary at path is not a static executable for arch.
func checkStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[arch]; ok && f.Machine != want {
		return fmt.Errorf("%s is for %s, the engine runs %s", path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (install busybox-static)", path)
		}
	}
	return nil
}

// busyboxRootfs returns a tar of a minimal root file system around the busybox binary
// at bin: /bin with a link per applet, /tmp, /etc/passwd and /etc/group, /root, /var/www.
func busyboxRootfs(ctx context.Context, bin string) (io.Reader, error) {
	out, err := exec.CommandContext(ctx, bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: now})
	}
	file := func(name string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	steps := []func() error{
		func() error { return dir("bin", 0o755) },
		func() error { return dir("tmp", 0o1777) },
		func() error { return dir("etc", 0o755) },
		func() error { return dir("root", 0o700) },
		func() error { return dir("var", 0o755) },
		func() error { return dir("var/www", 0o755) },
		func() error { return file("bin/busybox", 0o755, body) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")) },
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		steps = append(steps, func() error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: now})
		})
	}
	steps = append(steps, tw.Close)
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("write busybox rootfs: %w", err)
		}
	}
	return &buf, nil
}

var (
	archMu    sync.Mutex
	archCache = map[engine.API]string{}

	buildLocks sync.Map // image ref -> *sync.Mutex
)

// serverArch returns the engine's architecture as a GOARCH name, asking once per client.
func serverArch(ctx context.Context, cli engine.API) (string, error) {
	archMu.Lock()
	defer archMu.Unlock()
	if a, ok := archCache[cli]; ok {
		return a, nil
	}
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("ask engine version: %w", err)
	}
	a := v.Arch
	switch a { // engines report GOARCH names; normalise the odd uname-style one
	case "x86_64":
		a = "amd64"
	case "aarch64":
		a = "arm64"
	}
	archCache[cli] = a
	return a, nil
}

// GoProgram compiles the Go main package in pkgDir (relative to the test's working
// directory, e.g. "testdata/echo") for the engine's architecture with CGO_ENABLED=0 and
// GOOS=linux, and returns a FROM scratch image running it as its entrypoint:
//
//	FROM scratch
//	COPY app /app
//	ENTRYPOINT ["/app"]
//
// The image is tagged containertest/goprog-<dir name>:<binary hash prefix> and labelled
// with engine.LabelManaged, LabelProgram and LabelBinary. When that tag exists nothing
// is sent to the engine, so calling GoProgram again (in this or a later test process)
// costs one go build, which the Go build cache makes fast. The image outlives the test.
func GoProgram(t testing.TB, pkgDir string) string {
	t.Helper()
	e := Engine(t)
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	ref, err := goProgram(ctx, e.Client, pkgDir, t.TempDir())
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	return ref
}

func goProgram(ctx context.Context, cli engine.API, pkgDir, tmp string) (string, error) {
	dir, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", fmt.Errorf("build go program %s: %w", pkgDir, err)
	}
	arch, err := serverArch(ctx, cli)
	if err != nil {
		return "", err
	}
	bin, err := compile(ctx, dir, arch, filepath.Join(tmp, "app"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	digest := hex.EncodeToString(sum[:])
	name := refName(filepath.Base(dir))
	ref := "containertest/goprog-" + name + ":" + digest[:20]

	mu, _ := buildLocks.LoadOrStore(ref, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return ref, err
	}
	if err := buildScratch(ctx, cli, ref, bin, map[string]string{
		engine.LabelManaged: "true",
		LabelProgram:        name,
		LabelBinary:         digest,
	}); err != nil {
		return "", err
	}
	return ref, nil
}

// compile builds the main package in dir into out and returns the binary.
func compile(ctx context.Context, dir, arch, out string) ([]byte, error) {
	gobin, err := goCommand()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if arch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compile go program %s: %w\n%s", dir, err, strings.TrimSpace(string(b)))
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("compile go program %s: %w", dir, err)
	}
	return bin, nil
}

// goCommand finds the go command: go test puts its own toolchain first on PATH.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("find go command: not on PATH and GOROOT is not set")
}

// refName turns a directory name into a valid image repository path component.
func refName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-")
	if n == "" {
		return "program"
	}
	return n
}

// buildScratch builds ref from an in-memory context holding the binary and a
// FROM scratch Dockerfile.
func buildScratch(ctx context.Context, cli engine.API, ref string, bin []byte, labels map[string]string) error {
	const dockerfile = "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the context, and so the builder's cache key, a function of
	// the content alone.
	mtime := time.Unix(0, 0)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"app", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: mtime}); err != nil {
			return fmt.Errorf("build image %s: write context: %w", ref, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return fmt.Errorf("build image %s: write context: %w", ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build image %s: write context: %w", ref, err)
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		return fmt.Errorf("build image %s: %w\n%s", ref, err, tail(out.String(), 20))
	}
	if ok, err := imageExists(ctx, cli, ref); err != nil || !ok {
		return fmt.Errorf("build image %s: the engine reported success but the tag is missing (err: %v)\n%s", ref, err, tail(out.String(), 20))
	}
	return nil
}

// imageExists reports whether ref names an image on the engine.
func imageExists(ctx context.Context, cli engine.API, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
