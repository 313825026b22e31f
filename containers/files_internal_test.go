package containers

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/mount"
)

// An image mount reaches the engine as a read-only mount of type image, on an engine
// that has them; an older engine's API version fails the spec, naming both versions.
func TestMountImageConfig(t *testing.T) {
	s := Image("busybox:latest").MountImage("example/tools:1", "/tools")
	require.NoError(t, s.Err())

	for _, v := range []string{"1.48", "1.51"} {
		assert.NoError(t, s.checkEngineSupport(&engine.Engine{APIVersion: v}), v)
	}
	err := s.checkEngineSupport(&engine.Engine{APIVersion: "1.41"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUnsupportedByEngine))
	assert.ErrorContains(t, err, "mount image example/tools:1 at /tools")
	assert.ErrorContains(t, err, "need engine API 1.48 or later")
	assert.ErrorContains(t, err, "the engine speaks API 1.41")

	_, hc, _, err := s.engineConfig(&engine.Engine{APIVersion: "1.48"}, "busybox:latest", nil)
	require.NoError(t, err)
	assert.Equal(t, []mount.Mount{{Type: mount.TypeImage, Source: "example/tools:1", Target: "/tools", ReadOnly: true}}, hc.Mounts)
	assert.False(t, writesPersistentStorage(hc))

	assert.ErrorContains(t, Image("busybox:latest").MountImage("Bad Ref", "/x").Err(), `mount image "Bad Ref" at /x: invalid image reference`)
	assert.ErrorContains(t, Image("busybox:latest").MountImage("busybox", "x").Err(), `target "x" is not an absolute path`)
}
