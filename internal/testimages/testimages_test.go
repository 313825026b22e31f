package testimages

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/engine/docker/stdcopy"
)

var runSeq atomic.Int64

// runOnce runs ref to completion with the raw client and returns its exit code and
// combined output. The container carries the session labels and is removed when the
// test ends.
func runOnce(t *testing.T, ref string, env []string, cmd ...string) (int, string) {
	t.Helper()
	e := Engine(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("ct-testimages-%s-%d", engine.SessionID(), runSeq.Add(1))
	created, err := e.Client.ContainerCreate(ctx,
		&container.Config{Image: ref, Cmd: cmd, Env: env, Labels: engine.Labels()},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := e.Client.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		assert.NoError(t, err, "remove container %s", name)
	})
	waitC, errC := e.Client.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	require.NoError(t, e.Client.ContainerStart(ctx, created.ID, container.StartOptions{}))
	var code int
	select {
	case w := <-waitC:
		require.Nil(t, w.Error, "wait for %s", name)
		code = int(w.StatusCode)
	case err := <-errC:
		require.NoError(t, err, "wait for %s", name)
	}
	logs, err := e.Client.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	require.NoError(t, err)
	defer logs.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, logs)
	require.NoError(t, err)
	return code, out.String()
}

func TestBusybox(t *testing.T) {
	ref := Busybox(t)
	assert.Equal(t, "busybox:latest", ref)
	// Imported or pulled, the image has a shell and the applets tests use.
	code, out := runOnce(t, ref, nil, "sh", "-c", `echo "uid=$(id -u)"; wget --help >/dev/null 2>&1 && echo wget; exit 3`)
	assert.Equal(t, 3, code)
	assert.Equal(t, "uid=0\nwget\n", out)
}

// TestBusyboxImport imports the host's busybox under a name of the test's own (the
// shared busybox:latest is never removed) and runs the result.
func TestBusyboxImport(t *testing.T) {
	e := Engine(t)
	arch, err := serverArch(t.Context(), e.Client)
	require.NoError(t, err)
	if _, err := findStaticBusybox(arch); err != nil {
		if engine.Required() {
			t.Fatalf("CI needs busybox-static: %v", err)
		}
		t.Skipf("no static busybox on this machine: %v", err)
	}
	ref := "containertest/busybox-import-test:" + engine.SessionID()
	t.Cleanup(func() { removeImage(t, e, ref) })

	require.NoError(t, ensureBusybox(t.Context(), e.Client, ref))
	info, err := e.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, []string{"sh"}, []string(info.Config.Cmd))
	assert.Contains(t, info.Config.Env, "PATH=/bin")

	code, out := runOnce(t, ref, nil, "sh", "-c", `grep -c . /etc/passwd; ls -ld /tmp | cut -c1-10; readlink /bin/ls`)
	assert.Equal(t, 0, code)
	assert.Equal(t, "2\ndrwxrwxrwt\nbusybox\n", out)

	// Present now: a second call changes nothing.
	require.NoError(t, ensureBusybox(t.Context(), e.Client, ref))
	again, err := e.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, info.ID, again.ID)
}

func TestCheckStatic(t *testing.T) {
	bb := ""
	for _, p := range busyboxCandidates {
		if checkStatic(p, runtime.GOARCH) == nil {
			bb = p
			break
		}
	}
	if bb != "" {
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		err := checkStatic(bb, other)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the engine runs "+other)
	}

	// A dynamically linked program: a cgo-free Go binary is static, so use the
	// system's shell, which links the C library.
	if sh, err := exec.LookPath("sh"); err == nil {
		sh, _ = filepath.EvalSymlinks(sh)
		if err := checkStatic(sh, runtime.GOARCH); err != nil {
			assert.Contains(t, err.Error(), "dynamically linked")
		}
	}

	text := filepath.Join(t.TempDir(), "busybox")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755))
	err := checkStatic(text, runtime.GOARCH)
	require.Error(t, err)
	assert.Contains(t, err.Error(), text)

	assert.ErrorIs(t, checkStatic(filepath.Join(t.TempDir(), "missing"), runtime.GOARCH), os.ErrNotExist)
}

var goprogRef = regexp.MustCompile(`^containertest/goprog-hello:([0-9a-f]{20})$`)

func TestGoProgram(t *testing.T) {
	e := Engine(t)
	ref := GoProgram(t, "testdata/hello")
	m := goprogRef.FindStringSubmatch(ref)
	require.NotNil(t, m, "ref %q", ref)

	info, err := e.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, []string{"/app"}, []string(info.Config.Entrypoint))
	assert.Equal(t, "true", info.Config.Labels[engine.LabelManaged])
	assert.Equal(t, "hello", info.Config.Labels[LabelProgram])
	assert.True(t, strings.HasPrefix(info.Config.Labels[LabelBinary], m[1]), "the tag is a prefix of the binary hash")
	assert.NotContains(t, info.Config.Labels, engine.LabelSession, "a shared cached image belongs to no session")
	assert.Len(t, info.RootFS.Layers, 1, "FROM scratch plus the binary")

	v, err := e.Client.ServerVersion(t.Context())
	require.NoError(t, err)
	code, out := runOnce(t, ref, []string{"EXIT_CODE=7"}, "one", "two")
	assert.Equal(t, 7, code)
	assert.Equal(t, fmt.Sprintf("hello from linux/%s\nargs: one two\n", v.Arch), out)

	// Asking again finds the image: same reference, same image, nothing rebuilt.
	again := GoProgram(t, "testdata/hello")
	assert.Equal(t, ref, again)
	info2, err := e.Client.ImageInspect(t.Context(), again)
	require.NoError(t, err)
	assert.Equal(t, info.ID, info2.ID)
}

// TestGoProgramContentAddressed builds a program whose binary is unique to this run: it
// gets its own tag, holding that binary.
func TestGoProgramContentAddressed(t *testing.T) {
	e := Engine(t)
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	token := hex.EncodeToString(b[:])
	dir := filepath.Join(t.TempDir(), "Token_Prog")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tokenprog\n\ngo 1.25\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(
		"package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\""+token+"\") }\n"), 0o644))

	ref := GoProgram(t, dir)
	t.Cleanup(func() { removeImage(t, e, ref) })
	assert.Regexp(t, `^containertest/goprog-token-prog:[0-9a-f]{20}$`, ref)
	assert.NotEqual(t, GoProgram(t, "testdata/hello"), ref)
	code, out := runOnce(t, ref, nil)
	assert.Equal(t, 0, code)
	assert.Equal(t, token+"\n", out)
}

func TestGoProgramCompileError(t *testing.T) {
	e := Engine(t)
	dir := filepath.Join(t.TempDir(), "broken")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.25\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))
	_, err := goProgram(t.Context(), e.Client, dir, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compile go program "+dir)
	assert.Contains(t, err.Error(), "undefined: undefinedThing", "the compiler's output is in the error")
}

func TestRefName(t *testing.T) {
	for in, want := range map[string]string{
		"hello":       "hello",
		"Echo_Server": "echo-server",
		"v2.api":      "v2-api",
		"__":          "program",
		"-x-":         "x",
	} {
		assert.Equal(t, want, refName(in), in)
	}
}

// removeImage removes an image the test made; it runs in a cleanup, so it has its own
// context.
func removeImage(t *testing.T, e *engine.Engine, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.Client.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	assert.NoError(t, err, "remove image %s", ref)
}
