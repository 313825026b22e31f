package containers

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/testimages"
)

// A built image that lacks the build's labels (podman's builder drops them on a target
// stage that is not the last) gets them under the same tag, and the unlabelled image
// goes; a tag with no image is reported, not invented.
func TestRelabelAddsDroppedLabels(t *testing.T) {
	eng := testimages.Engine(t)
	base := testimages.Busybox(t)
	ctx := t.Context()
	var b [6]byte
	_, _ = rand.Read(b[:])
	tag := "containertest/relabel-test:" + hex.EncodeToString(b[:])

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, addFile(tw, "Dockerfile", []byte("FROM "+base+"\nENV RELABEL_TEST="+tag+"\n"), 0))
	require.NoError(t, tw.Close())
	resp, err := eng.Client.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true})
	require.NoError(t, err)
	require.NoError(t, readBuildOutput(resp.Body, "relabel-test", t.Logf))
	resp.Body.Close()
	before, err := eng.Client.ImageInspect(ctx, tag)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = eng.Client.ImageRemove(ctx, tag, image.RemoveOptions{Force: true})
		_, _ = eng.Client.ImageRemove(ctx, before.ID, image.RemoveOptions{Force: true})
	})
	require.Empty(t, before.Config.Labels["com.example.relabel"])

	ok, err := relabel(ctx, eng, t.Logf, tag, map[string]string{"com.example.relabel": "yes", labelBuildKey: "k"})
	require.NoError(t, err)
	assert.True(t, ok)
	after, err := eng.Client.ImageInspect(ctx, tag)
	require.NoError(t, err)
	assert.Equal(t, "yes", after.Config.Labels["com.example.relabel"])
	assert.Equal(t, "k", after.Config.Labels[labelBuildKey])
	assert.Contains(t, after.Config.Env, "RELABEL_TEST="+tag, "not the image that was built")
	assert.NotEqual(t, before.ID, after.ID)
	// Gone, or (Docker) kept untagged as the new image's parent, removed with it.
	old, err := eng.Client.ImageInspect(ctx, before.ID)
	if !errdefs.IsNotFound(err) {
		require.NoError(t, err)
		assert.Empty(t, old.RepoTags, "the unlabelled image is still tagged")
		hist, err := eng.Client.ImageHistory(ctx, tag)
		require.NoError(t, err)
		assert.True(t, slices.ContainsFunc(hist, func(h image.HistoryResponseItem) bool { return h.ID == before.ID }),
			"the unlabelled image stays, not as an ancestor of the new one")
	}

	ok, err = relabel(ctx, eng, t.Logf, tag+"-missing", map[string]string{"a": "b"})
	require.NoError(t, err)
	assert.False(t, ok)
}
