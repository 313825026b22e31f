// Package tutorial is an example suite: the stack that Docker's getting-started
// tutorial ends with (testdata/compose.yaml: a web server at port 8080 and Redis),
// started in a test the way a developer would start it by hand with
// "docker compose up -d", looked at with "ps", used, and removed with "down".
//
//	func TestHomePage(t *testing.T) {
//		stack := tutorial.Up(t)
//		resp, err := http.Get(tutorial.URL(stack, "/"))
//		// ...
//	}
//
// The file publishes web at host port 8080; in a test each stack gets a random host
// port on 127.0.0.1 instead, so tests (and two people's test runs) never clash.
// For a session at the browser, Project().FixedPorts() keeps localhost:8080.
package tutorial

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/wait"
)

// WebPort is the web server's port in its container.
const WebPort = "80/tcp"

// File is the path of the Compose file.
func File() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return filepath.Join("testdata", "compose.yaml")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "compose.yaml")
}

// Project is the tutorial's Compose project, up when the web page answers and Redis
// answers PING.
func Project() compose.Project {
	return compose.File(File()).
		WaitFor("web", wait.ForHTTP("/").Port(WebPort).Status(200)).
		WaitFor("redis", wait.ForExec("redis-cli", "ping"))
}

// Up starts the stack for t; it is removed when t ends.
func Up(t testing.TB) *compose.Stack {
	t.Helper()
	return Project().Up(t)
}

// URL is the URL of path on the web service.
func URL(s *compose.Stack, path string) string {
	return s.Service("web").URL("http", WebPort) + path
}
