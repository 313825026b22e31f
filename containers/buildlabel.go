package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/image"
)

// relabel gives the image tagged tag the labels its build dropped, by building an
// image FROM it with them and nothing else, under the same tag. Podman's builder
// (buildah 1.28) puts a build's labels on the last stage of the Dockerfile only: a
// build of an earlier target stage ends without them, and without the build key the
// cache could never find the image again. It reports false, and does nothing, when
// no image is tagged tag.
func relabel(ctx context.Context, eng *engine.Engine, logf func(string, ...any), tag string, labels map[string]string) (bool, error) {
	ins, err := eng.Client.ImageInspect(ctx, tag)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect built image %s: %w", tag, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, "Dockerfile", []byte("FROM "+strings.TrimPrefix(ins.ID, "sha256:")+"\n"), 0o644); err != nil {
		return false, err
	}
	if err := tw.Close(); err != nil {
		return false, err
	}
	logf("containers: build: the builder dropped the build's labels (podman does on a target stage that is not the last); adding them")
	resp, err := eng.Client.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      labels,
	})
	if err != nil {
		return false, fmt.Errorf("label built image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildOutput(resp.Body, "labels of "+tag, func(string, ...any) {}); err != nil {
		return false, fmt.Errorf("label built image %s: %w", tag, err)
	}
	// The unlabelled image is untagged now: nothing will ask for it again.
	_, _ = eng.Client.ImageRemove(ctx, ins.ID, image.RemoveOptions{})
	return true, nil
}
