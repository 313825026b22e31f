package containers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/wait"
)

// Repeated builds of a changing temporary context leave one image, not one per change;
// an image whose context is gone is evicted by the next build; beyond
// CONTAINERTEST_BUILD_CACHE_MAX, the least recently used go.
func TestBuildCacheStaysBounded(t *testing.T) {
	containers.RequireDocker(t)
	root := t.TempDir()
	containers.EvictOnlyUnder(t, root)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	countImages := func(label string) int {
		t.Helper()
		imgs, err := eng.Client.ImageList(t.Context(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
		require.NoError(t, err)
		return len(imgs)
	}
	newContext := func(name string) string {
		dir := filepath.Join(root, name)
		require.NoError(t, os.Mkdir(dir, 0o755))
		writeTree(t, dir, map[string]string{
			"Dockerfile": "FROM " + busybox + "\nARG V=0\nCOPY f /f\nRUN echo $V >/v\n",
			"nonce":      randomText(),
		})
		removeBuiltImages(t, dir)
		return dir
	}
	run := func(spec containers.Spec) {
		t.Helper()
		c, err := spec.Cmd("cat", "/f").WaitFor(wait.ForExit(0)).StartTimeout(time.Minute).Run(t.Context())
		require.NoError(t, err)
		require.NoError(t, c.Terminate(context.WithoutCancel(t.Context())))
	}

	app := newContext("app")
	for i := range 4 {
		writeTree(t, app, map[string]string{"f": randomText()})
		run(containers.Build(app))
		assert.Equal(t, 1, countImages(containers.LabelBuildContext+"="+app), "images of the context after %d changes", i)
	}
	assert.Len(t, containers.BuiltImages(app), 4, "each change was built")

	other := newContext("other")
	require.NoError(t, os.RemoveAll(app))
	writeTree(t, other, map[string]string{"f": "x"})
	run(containers.Build(other))
	assert.Equal(t, 0, countImages(containers.LabelBuildContext+"="+app), "an image of a context that is gone")

	t.Setenv("CONTAINERTEST_BUILD_CACHE_MAX", "2")
	for _, v := range []string{"1", "2", "3"} {
		run(containers.Build(other).BuildArg("V", v))
	}
	assert.Equal(t, 2, countImages(containers.LabelBuildContext+"="+other), "images beyond the bound of 2")

	t.Setenv("CONTAINERTEST_BUILD_CACHE_MAX", "lots")
	_, err = containers.Build(other).Run(t.Context())
	assert.ErrorContains(t, err, `CONTAINERTEST_BUILD_CACHE_MAX="lots": want a positive number of images`)
}
