package containers

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeAuth(t *testing.T, s string) registry.AuthConfig {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(s)
	require.NoError(t, err)
	var ac registry.AuthConfig
	require.NoError(t, json.Unmarshal(b, &ac))
	return ac
}

func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600))
	return dir
}

func TestRegistryAuthInline(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	dir := writeConfig(t, `{"auths":{"registry.example.com:5000":{"auth":"`+auth+`"},"https://index.docker.io/v1/":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte("bob:hub"))+`"}}}`)

	enc, err := registryAuth("registry.example.com:5000/team/app:v1", dir)
	require.NoError(t, err)
	ac := decodeAuth(t, enc)
	assert.Equal(t, "alice", ac.Username)
	assert.Equal(t, "s3cret", ac.Password)

	enc, err = registryAuth("postgres:16", dir)
	require.NoError(t, err)
	ac = decodeAuth(t, enc)
	assert.Equal(t, "bob", ac.Username, "docker.io images use the index.docker.io entry")

	enc, err = registryAuth("other.example.com/x", dir)
	require.NoError(t, err)
	assert.Empty(t, enc, "no credentials for an unknown registry")
}

func TestRegistryAuthNoConfig(t *testing.T) {
	enc, err := registryAuth("busybox", t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, enc)
}

func TestRegistryAuthBadConfig(t *testing.T) {
	_, err := registryAuth("busybox", writeConfig(t, `{not json`))
	assert.ErrorContains(t, err, "parse docker config")
	_, err = registryAuth("r.example.com/x", writeConfig(t, `{"auths":{"r.example.com":{"auth":"!!!"}}}`))
	assert.ErrorContains(t, err, "not base64")
	_, err = registryAuth("bad ref!", t.TempDir())
	assert.ErrorContains(t, err, "parse image reference")
}

func TestRegistryAuthCredentialHelper(t *testing.T) {
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\nif [ \"$server\" = \"private.example.com\" ]; then echo '{\"ServerURL\":\"private.example.com\",\"Username\":\"carol\",\"Secret\":\"tok\"}'; else exit 1; fi\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeConfig(t, `{"credHelpers":{"private.example.com":"fake"}}`)

	enc, err := registryAuth("private.example.com/app:1", dir)
	require.NoError(t, err)
	ac := decodeAuth(t, enc)
	assert.Equal(t, "carol", ac.Username)
	assert.Equal(t, "tok", ac.Password)
}
