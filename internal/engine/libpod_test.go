package engine

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// A fake podman: its own API under /v4.0.0/libpod, one container "c1" that is
// running, "c2" that is not.
func fakeLibpod(t *testing.T, seen *[]string) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = append(*seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v4.0.0/libpod/containers/c1/healthcheck":
			w.Write([]byte(`{"Status":"healthy","FailingStreak":0,"Log":null}`))
		case "/v4.0.0/libpod/containers/c2/healthcheck":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"cause":"container c2 is not running","message":"container c2 is not running","response":409}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("Not Found\n"))
		}
	})
}

func TestLibpodThroughTCPAndSocket(t *testing.T) {
	var seen []string
	tcp := httptest.NewServer(fakeLibpod(t, &seen))
	t.Cleanup(tcp.Close)

	sock := filepath.Join(t.TempDir(), "podman.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unix := &httptest.Server{Listener: l, Config: &http.Server{Handler: fakeLibpod(t, &seen)}}
	unix.Start()
	t.Cleanup(unix.Close)

	for _, host := range []string{"tcp://" + tcp.Listener.Addr().String(), "unix://" + sock} {
		t.Run(strings.SplitN(host, ":", 2)[0], func(t *testing.T) {
			seen = nil
			cli, err := NewClient(Candidate{Host: host})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cli.Close() })
			e := &Engine{Client: cli, Addr: host}
			ctx := context.Background()

			var r struct{ Status string }
			if err := e.Libpod(ctx, "/containers/c1/healthcheck", &r); err != nil {
				t.Fatalf("healthcheck of a running container: %v", err)
			}
			if r.Status != "healthy" {
				t.Errorf("status %q, want healthy", r.Status)
			}
			if want := "GET /v4.0.0/libpod/containers/c1/healthcheck"; len(seen) != 1 || seen[0] != want {
				t.Errorf("requests %q, want [%q]", seen, want)
			}

			err = e.Libpod(ctx, "/containers/c2/healthcheck", &r)
			if !IsLibpodStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "container c2 is not running") {
				t.Errorf("stopped container: error %v, want a 409 with podman's message", err)
			}
			err = e.Libpod(ctx, "/containers/nope/healthcheck", &r)
			if !IsLibpodStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "Not Found") {
				t.Errorf("unknown path: error %v, want a 404 with the answer", err)
			}
		})
	}
}
