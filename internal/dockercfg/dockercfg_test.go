package dockercfg

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine/docker/registry"
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

	enc, _, err := RegistryAuth(t.Context(), "registry.example.com:5000/team/app:v1", dir)
	require.NoError(t, err)
	ac := decodeAuth(t, enc)
	assert.Equal(t, "alice", ac.Username)
	assert.Equal(t, "s3cret", ac.Password)

	enc, _, err = RegistryAuth(t.Context(), "postgres:16", dir)
	require.NoError(t, err)
	ac = decodeAuth(t, enc)
	assert.Equal(t, "bob", ac.Username, "docker.io images use the index.docker.io entry")

	enc, _, err = RegistryAuth(t.Context(), "other.example.com/x", dir)
	require.NoError(t, err)
	assert.Empty(t, enc, "no credentials for an unknown registry")
}

func TestRegistryAuthNoConfig(t *testing.T) {
	enc, source, err := RegistryAuth(t.Context(), "busybox", t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, enc)
	assert.Contains(t, source, "none sent")

	assert.Empty(t, Dir("", ""), "no config directory, not one relative to the working directory")
	enc, source, err = RegistryAuth(t.Context(), "busybox", Dir("", ""))
	require.NoError(t, err)
	assert.Empty(t, enc)
	assert.Contains(t, source, "neither DOCKER_CONFIG nor HOME is set")
}

func TestRegistryAuthBadConfig(t *testing.T) {
	_, _, err := RegistryAuth(t.Context(), "busybox", writeConfig(t, `{not json`))
	assert.ErrorContains(t, err, "parse docker config")
	_, _, err = RegistryAuth(t.Context(), "r.example.com/x", writeConfig(t, `{"auths":{"r.example.com":{"auth":"!!!"}}}`))
	assert.ErrorContains(t, err, "not base64")
	_, _, err = RegistryAuth(t.Context(), "bad ref!", t.TempDir())
	assert.ErrorContains(t, err, "parse image reference")
}

func TestRegistryAuthCredentialHelper(t *testing.T) {
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\nif [ \"$server\" = \"private.example.com\" ]; then echo '{\"ServerURL\":\"private.example.com\",\"Username\":\"carol\",\"Secret\":\"tok\"}'; else exit 1; fi\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeConfig(t, `{"credHelpers":{"private.example.com":"fake"}}`)

	enc, source, err := RegistryAuth(t.Context(), "private.example.com/app:1", dir)
	require.NoError(t, err)
	ac := decodeAuth(t, enc)
	assert.Equal(t, "carol", ac.Username)
	assert.Equal(t, "tok", ac.Password)
	assert.Contains(t, source, `user "carol" from credential helper docker-credential-fake (credHelpers in `+filepath.Join(dir, "config.json"))

	// A helper that has nothing for the server: no credentials, and the source says so.
	enc, source, err = RegistryAuth(t.Context(), "other.example.com/app:1", writeConfig(t, `{"credsStore":"fake"}`))
	require.NoError(t, err)
	assert.Empty(t, enc)
	assert.Contains(t, source, "none sent: credential helper docker-credential-fake (credsStore in ")
}

// TestCredentialHelperIsBounded: a helper that never answers (a keychain prompt nobody
// sees) fails the lookup after HelperTimeout instead of hanging the test, and
// the caller's context bounds it too.
func TestCredentialHelperIsBounded(t *testing.T) {
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker-credential-stuck"), []byte("#!/bin/sh\nsleep 60\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeConfig(t, `{"credsStore":"stuck"}`)

	old := HelperTimeout
	HelperTimeout = 200 * time.Millisecond
	t.Cleanup(func() { HelperTimeout = old })
	done := make(chan error, 1)
	go func() {
		_, _, err := RegistryAuth(context.Background(), "private.example.com/app:1", dir)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "docker-credential-stuck: no answer within 200ms")
	case <-time.After(30 * time.Second):
		t.Fatal("registryAuth still waits for a credential helper that never answers")
	}

	HelperTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _, err := RegistryAuth(ctx, "private.example.com/app:1", dir)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("registryAuth ignores its context while a credential helper runs")
	}
}
