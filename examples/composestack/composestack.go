// Package composestack is an example suite: the webstack example's nginx → Flask →
// Redis stack described by a Compose file (testdata/compose.yaml) and started with
// the compose package instead of containers.StartAll.
//
// The file says the order (depends_on with service_healthy), the readiness (each
// service's healthcheck), the networks (nginx on "front" and "back", the others on
// "back" only) and Redis's data volume; the test adds only the check
// that a request crosses the whole stack:
//
//	func TestVisits(t *testing.T) {
//		stack := composestack.Up(t)
//		resp, err := http.Get(composestack.URL(stack, "/"))
//		// ...
//	}
//
// Every Up is its own Compose project with its own containers, networks and volume,
// so the tests run in parallel although the file publishes nginx at host port 8080:
// the port is published at a random port on 127.0.0.1 instead.
package composestack

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/wait"
)

// ProxyPort is nginx's port in its container.
const ProxyPort = "80/tcp"

// File is the path of the Compose file.
func File() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return filepath.Join("testdata", "compose.yaml")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "compose.yaml")
}

// ProxyReady is nginx's readiness: GET /health through the proxy answers 200, which
// needs nginx, the application and Redis.
func ProxyReady() wait.Strategy {
	return wait.ForHTTP("/health").Port(ProxyPort).Status(200)
}

// Project is the stack's Compose project, ready when a request crosses it.
func Project() compose.Project {
	return compose.File(File()).WaitFor("nginx", ProxyReady())
}

// Up starts the stack for t; it is removed when t ends.
func Up(t testing.TB) *compose.Stack {
	t.Helper()
	return Project().Up(t)
}

// URL is the URL of path on the stack's front door.
func URL(s *compose.Stack, path string) string {
	return s.Service("nginx").URL("http", ProxyPort) + path
}
