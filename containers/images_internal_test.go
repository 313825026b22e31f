package containers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrefixImage(t *testing.T) {
	for ref, want := range map[string]string{
		"busybox":                      "mirror.example.com/hub/library/busybox:latest"[:len("mirror.example.com/hub/library/busybox")],
		"busybox:1.36":                 "mirror.example.com/hub/library/busybox:1.36",
		"docker.io/library/redis:7":    "mirror.example.com/hub/library/redis:7",
		"bitnami/redis:7":              "mirror.example.com/hub/bitnami/redis:7",
		"ghcr.io/acme/app:1":           "ghcr.io/acme/app:1",
		"localhost:5000/app:1":         "localhost:5000/app:1",
		"postgres@sha256:" + sixtyFour: "mirror.example.com/hub/library/postgres@sha256:" + sixtyFour,
	} {
		got, err := prefixImage(ref, "mirror.example.com/hub/")
		require.NoError(t, err, ref)
		assert.Equal(t, want, got, ref)
	}
	got, err := prefixImage("busybox:latest", "")
	require.NoError(t, err)
	assert.Equal(t, "busybox:latest", got)
	got, err = prefixImage("busybox:latest", "mirror:5000")
	require.NoError(t, err)
	assert.Equal(t, "mirror:5000/library/busybox:latest", got)
	_, err = prefixImage("busybox:latest", "hub")
	assert.ErrorContains(t, err, `CONTAINERTEST_IMAGE_PREFIX="hub": want a registry host`)
	_, err = prefixImage("busybox:latest", "Mirror.example.com/UPPER")
	assert.ErrorContains(t, err, `CONTAINERTEST_IMAGE_PREFIX="Mirror.example.com/UPPER"`)
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
