package containers_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/mount"
)

// TestOtherNotFoundIsNotAMissingImage: a create that fails because something other than
// the image is missing is reported as that, with the engine's error kept, and not as a
// missing image (which would also have set off a pull).
func TestOtherNotFoundIsNotAMissingImage(t *testing.T) {
	containers.RequireDocker(t)
	cases := map[string]struct {
		modify func(*container.HostConfig)
		want   string
	}{
		// The engine looks the driver up at create: "plugin ... not found", a NotFound.
		"volume plugin": {func(hc *container.HostConfig) {
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: "ct-errors-test-volume", Target: "/data",
				VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "ct-no-such-driver"}}})
		}, "ct-no-such-driver"},
		// Engines since API 1.44 check networks at create, older ones at start.
		"network": {func(hc *container.HostConfig) { hc.NetworkMode = "ct-no-such-network-for-errors-test" }, "ct-no-such-network-for-errors-test"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := containers.Image(busybox).Cmd("sleep", "60").WaitFor().Pull(containers.PullNever).
				Modify(func(_ *container.Config, hc *container.HostConfig) { tc.modify(hc) }).
				Run(t.Context())
			require.Error(t, err)
			assert.NotErrorIs(t, err, containers.ErrImageNotFound)
			assert.True(t, cerrdefs.IsNotFound(err), "the engine's not-found error stays wrapped: %v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	requireNoLeak(t, "ct-"+engine.SessionID()[:6])
}

// fakeRegistry answers the engine's pulls from 127.0.0.1 (an insecure registry by the
// engine's default) as a registry would: it asks for credentials (any will do, except
// for /private/), repositories under /missing/ do not exist,
// /private/ needs credentials, /limited/ is rate-limited. It records the Authorization
// headers it saw.
type fakeRegistry struct {
	host string
	mu   sync.Mutex
	auth []string
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		reply := func(status int, code, msg string) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
		}
		switch p := req.URL.Path; {
		case p == "/v2/" && req.Header.Get("Authorization") == "":
			// The engine sends credentials only to a registry that asked for them.
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			reply(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		case p == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(p, "/v2/ct/missing/"):
			reply(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		case strings.HasPrefix(p, "/v2/ct/private/"):
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			reply(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		case strings.HasPrefix(p, "/v2/ct/limited/"):
			reply(http.StatusTooManyRequests, "TOOMANYREQUESTS", "You have reached your pull rate limit")
		default:
			reply(http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		}
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *fakeRegistry) sawAuth(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auth {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

// TestPullFailuresSayWhy: each kind of pull failure has its own sentinel and words, and
// an unauthorized pull names the credentials that were sent.
func TestPullFailuresSayWhy(t *testing.T) {
	containers.RequireDocker(t)
	reg := newFakeRegistry(t)
	cfgDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:wrong"))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.json"),
		[]byte(`{"auths":{"`+reg.host+`":{"auth":"`+auth+`"}}}`), 0o600))
	t.Setenv("DOCKER_CONFIG", cfgDir)

	cases := []struct {
		repo string
		is   error
		want []string
	}{
		{"ct/missing", containers.ErrImageNotFound, []string{"no such repository or tag", "manifest unknown"}},
		{"ct/private", containers.ErrPullUnauthorized, []string{"refused the credentials", `user "alice"`, `auths["` + reg.host + `"]`, filepath.Join(cfgDir, "config.json")}},
		{"ct/limited", containers.ErrPullRateLimited, []string{"rate limit"}},
	}
	for _, tc := range cases {
		t.Run(tc.repo, func(t *testing.T) {
			ref := reg.host + "/" + tc.repo + ":v1"
			for _, policy := range []containers.PullPolicy{containers.PullAlways, containers.PullMissing} {
				_, err := containers.Image(ref).Pull(policy).Cmd("true").WaitFor().Run(t.Context())
				require.Error(t, err)
				require.ErrorIs(t, err, tc.is)
				for _, w := range tc.want {
					assert.Contains(t, err.Error(), w)
				}
				assert.Contains(t, err.Error(), ref)
				if policy == containers.PullMissing {
					assert.ErrorIs(t, err, containers.ErrImageNotFound, "neither local nor pullable")
				}
			}
		})
	}
	assert.True(t, reg.sawAuth("Basic "), "the configured credentials were sent")

	t.Run("unreachable", func(t *testing.T) {
		// Nothing listens on port 1 of the loopback address.
		_, err := containers.Image("127.0.0.1:1/ct/x:v1").Pull(containers.PullAlways).Cmd("true").WaitFor().Run(t.Context())
		require.ErrorIs(t, err, containers.ErrRegistryUnreachable)
		assert.Contains(t, err.Error(), "cannot reach the registry")
		assert.NotErrorIs(t, err, containers.ErrImageNotFound)
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		_, err := containers.Image(reg.host + "/ct/private:v1").Pull(containers.PullAlways).Cmd("true").WaitFor().Run(t.Context())
		require.ErrorIs(t, err, containers.ErrPullUnauthorized)
		assert.Contains(t, err.Error(), "none sent")
	})
}
