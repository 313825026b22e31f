package containers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/wait"
)

func testEngine(t *testing.T) *engine.Engine {
	t.Helper()
	containers.RequireDocker(t)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	return eng
}

// tagImage tags src as ref until the test ends.
func tagImage(t *testing.T, eng *engine.Engine, src, ref string) {
	t.Helper()
	require.NoError(t, eng.Client.ImageTag(t.Context(), src, ref))
	t.Cleanup(func() {
		_, err := eng.Client.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		if err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove tag %s: %v", ref, err)
		}
	})
}

// Platform on an Image spec is checked against what the engine reports for the local
// image.
func TestImagePlatform(t *testing.T) {
	eng := testEngine(t)
	ins, err := eng.Client.ImageInspect(t.Context(), busybox)
	require.NoError(t, err)
	own := ins.Os + "/" + ins.Architecture
	other := "linux/arm64"
	if ins.Architecture == "arm64" {
		other = "linux/amd64"
	}

	c := containers.Image(busybox).Platform(own).Pull(containers.PullNever).Cmd("true").WaitFor(wait.ForExit(0)).Start(t)
	require.NoError(t, c.Terminate(t.Context()))

	_, err = containers.Image(busybox).Platform(other).Pull(containers.PullNever).Cmd("true").Run(t.Context())
	require.Error(t, err)
	assert.True(t, errors.Is(err, containers.ErrPlatformMismatch), "%v", err)
	assert.ErrorContains(t, err, "the engine has it for "+own+", the spec asks for "+other)

	_, err = containers.Image("containertest/no-such-image:1").Platform(own).Pull(containers.PullNever).Run(t.Context())
	assert.True(t, errors.Is(err, containers.ErrImageNotFound), "%v", err)
	assert.ErrorContains(t, containers.Image(busybox).Platform("linux/nope").Err(), "linux/nope")
}

// CONTAINERTEST_IMAGE_PREFIX puts a mirror before Docker Hub references; a spec's
// SubstituteImage replaces that rule.
func TestImageSubstitution(t *testing.T) {
	eng := testEngine(t)
	mirrored := "mirror.invalid:5000/hub/library/" + busybox
	tagImage(t, eng, busybox, mirrored)
	t.Setenv("CONTAINERTEST_IMAGE_PREFIX", "mirror.invalid:5000/hub")
	imageOf := func(c *containers.Container) string {
		ins, err := eng.Client.ContainerInspect(t.Context(), c.ID())
		require.NoError(t, err)
		// Podman records the reference normalized: docker.io/library/name:tag.
		named, err := reference.ParseNormalizedNamed(ins.Config.Image)
		require.NoError(t, err)
		return reference.FamiliarString(named)
	}
	c := containers.Image(busybox).Pull(containers.PullNever).Cmd("sleep", "60").WaitFor().Start(t)
	assert.Equal(t, mirrored, imageOf(c))

	pinned := "containertest-subst-" + randomText()[:8] + ":1"
	tagImage(t, eng, busybox, pinned)
	c = containers.Image("anything:1").SubstituteImage(func(ref string) (string, error) {
		assert.Equal(t, "anything:1", ref)
		return pinned, nil
	}).Pull(containers.PullNever).Cmd("sleep", "60").WaitFor().Start(t)
	assert.Equal(t, pinned, imageOf(c))

	_, err := containers.Image(busybox).SubstituteImage(func(string) (string, error) { return "", errors.New("no mirror") }).Run(t.Context())
	assert.ErrorContains(t, err, "substitute image "+busybox+": no mirror")
	_, err = containers.Image(busybox).SubstituteImage(func(string) (string, error) { return "Bad Ref", nil }).Run(t.Context())
	assert.ErrorContains(t, err, `the function returned "Bad Ref"`)
	assert.ErrorContains(t, containers.Build(".").SubstituteImage(func(s string) (string, error) { return s, nil }).Err(), "is a Build spec")

	t.Setenv("CONTAINERTEST_IMAGE_PREFIX", "hub")
	_, err = containers.Image(busybox).Run(t.Context())
	assert.ErrorContains(t, err, `CONTAINERTEST_IMAGE_PREFIX="hub"`)
}

// BuildTag gives the built image the user's name beside the cache's; BuildOutput gets
// the build's progress, and one line on a cache hit.
func TestBuildTagAndOutput(t *testing.T) {
	eng := testEngine(t)
	dir := buildContext(t, "tagged", map[string]string{"Dockerfile": "FROM " + busybox + "\nCOPY nonce /nonce\nRUN echo built-it\n"})
	ref := "containertest-user-" + randomText()[:8] + "/app:v1"
	t.Cleanup(func() { _, _ = eng.Client.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	var out syncBuffer
	spec := containers.Build(dir).BuildTag(ref).BuildOutput(&out).Cmd("true").WaitFor(wait.ForExit(0))
	c := spec.Start(t)
	info, err := c.Inspect(t.Context())
	require.NoError(t, err)
	ins, err := eng.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, info.ImageID, ins.ID, "the user's tag names the built image")
	assert.Contains(t, out.String(), "COPY nonce /nonce", "build output")
	assert.Contains(t, out.String(), "built-it", "RUN output")

	var hit syncBuffer
	spec.BuildOutput(&hit).Start(t)
	assert.Regexp(t, `^containers: build tagged: cached as containertest/tagged:[0-9a-f]{16}\n$`, hit.String())

	for bad, want := range map[string]string{
		"app@sha256:" + strings.Repeat("0", 64): "a digest cannot be given",
		"containertest/app:1":                   "containertest/ names are the build cache's own",
		"Bad Ref":                               `build tag "Bad Ref"`,
	} {
		assert.ErrorContains(t, containers.Build(dir).BuildTag(bad).Err(), want)
	}
	assert.ErrorContains(t, containers.Image(busybox).BuildTag("app:1").Err(), "not a Build spec")
	assert.ErrorContains(t, containers.Build(dir).BuildOutput(nil).Err(), "nil writer")
}

func tarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// BuildTar builds from an in-memory context, cached by content like a directory.
func TestBuildTar(t *testing.T) {
	eng := testEngine(t)
	name := "tartest-" + randomText()[:8]
	t.Cleanup(func() {
		imgs, err := eng.Client.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "containertest/"+name))})
		if err != nil {
			t.Errorf("list images of %s: %v", name, err)
			return
		}
		for _, img := range imgs {
			_, _ = eng.Client.ImageRemove(context.Background(), img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
	data := tarball(t, map[string]string{
		"Dockerfile":  "FROM " + busybox + "\nCOPY hello.txt /hello.txt\n",
		"hello.txt":   "hello from memory " + name,
		"sub/ign.txt": "x",
	})
	run := func(spec containers.Spec) string {
		t.Helper()
		c, err := spec.Cmd("cat", "/hello.txt").WaitFor(wait.ForExit(0)).Run(t.Context())
		require.NoError(t, err)
		defer func() { require.NoError(t, c.Terminate(context.WithoutCancel(t.Context()))) }()
		logs, err := c.Logs(t.Context())
		require.NoError(t, err)
		return logs
	}
	before := containers.BuildsRun()
	assert.Equal(t, "hello from memory "+name, run(containers.BuildTar(name, data)))
	assert.Equal(t, "hello from memory "+name, run(containers.BuildTar(name, data)))
	assert.Equal(t, int64(1), containers.BuildsRun()-before, "the second build of the same archive is a cache hit")

	evil := tarball(t, map[string]string{"Dockerfile": "FROM " + busybox + "\n", "../escape": "x"})
	_, err := containers.BuildTar(name, evil).Run(t.Context())
	assert.ErrorContains(t, err, "build tar "+name+": unpack the archive")
	assert.ErrorContains(t, containers.BuildTar("Bad Name", data).Err(), `invalid name "Bad Name"`)
	assert.ErrorContains(t, containers.BuildTar(name, nil).Err(), "empty archive")
	_, err = containers.BuildTar(name, []byte("not a tar")).Run(t.Context())
	assert.ErrorContains(t, err, "build tar "+name)
}
