// Package webstack is an example suite: a three-service web stack on its own network,
// started in dependency order, reached only through its reverse proxy, and broken on
// purpose to reproduce an outage.
//
// The stack, each service built from a Dockerfile in testdata on the project's Debian
// base image with Debian's packages (nothing is pulled from a registry):
//
//	test ──HTTP──▶ nginx ──"app:8000"──▶ Flask app (gunicorn) ──"redis:6379"──▶ Redis
//	     published          network alias                        network alias
//	     port 80
//
// The application counts visits in Redis, so its state survives the application's
// restart; it answers 503 while Redis is away and recovers by itself when Redis is
// back. Only nginx publishes a port: the application and Redis are reachable on the
// stack's network only, by their aliases, as they would be in production.
//
// Start builds the images (a few minutes, once per machine; later runs find them in
// the build cache), creates the network and starts the three containers with
// containers.StartAll, each only after the one it depends on is ready:
//
//	func TestCheckout(t *testing.T) {
//		stack := webstack.Start(t)
//		resp, err := http.Get(stack.URL("/"))
//		// ...
//		stack.Redis.Stop(t.Context(), 10*time.Second) // reproduce the outage
//		// ...
//	}
//
// Readiness is checked where each service is reachable: Redis and the application
// with a probe run inside their containers (wait.ForExec), nginx with
// wait.ForHTTP("/health") through its published port. That last request crosses the
// whole stack (nginx, application, Redis), so a started stack is a working stack, and
// a test can wait for the same strategy again (Container.WaitFor) after breaking and
// repairing it.
package webstack

import (
	"crypto/rand"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// ProxyPort is the port nginx publishes.
const ProxyPort = "80/tcp"

// A Stack is a started web stack. Its containers are removed when the test that
// started it ends, then its network.
type Stack struct {
	Network *network.Network
	Redis   *containers.Container
	App     *containers.Container
	Proxy   *containers.Container
}

// URL returns the URL of path on the stack's front door, nginx's published port.
func (s *Stack) URL(path string) string {
	return s.Proxy.URL("http", ProxyPort) + path
}

// ProxyReady is nginx's readiness strategy: GET /health through the proxy answers
// 200, which needs nginx, the application and Redis. Wait for it again with
// Container.WaitFor after repairing the stack.
func ProxyReady() wait.Strategy {
	return wait.ForHTTP("/health").Port(ProxyPort).Status(200)
}

// Start builds the images, creates a network and starts Redis, the application and
// nginx on it, in that order; it fails the test when any of them does not become
// ready.
func Start(t testing.TB) *Stack {
	t.Helper()
	net := network.New(t)

	// StartAll orders specs by the names they are given with Named, and a container
	// name is unique on the engine, so give each stack its own names. The services
	// find each other by their network aliases, which are the same in every stack.
	suffix := strings.ToLower(rand.Text()[:8])
	redisName, appName, proxyName := "webstack-redis-"+suffix, "webstack-app-"+suffix, "webstack-nginx-"+suffix

	redis := containers.Build(ContextDir("redis")).
		Named(redisName).
		On(net, "redis").
		WaitFor(wait.ForExec("sh", "-c", "redis-cli ping | grep -qx PONG"))
	app := containers.Build(ContextDir("app")).
		Named(appName).
		On(net, "app").
		DependsOn(redisName).
		WaitFor(wait.ForExec("python3", "-c",
			"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"))
	proxy := containers.Build(ContextDir("nginx")).
		Named(proxyName).
		On(net).
		Expose(ProxyPort).
		DependsOn(appName).
		WaitFor(ProxyReady())

	cs := containers.StartAll(t, redis, app, proxy)
	return &Stack{Network: net, Redis: cs[0], App: cs[1], Proxy: cs[2]}
}

// ContextDir is the build context of one service of the stack: testdata/<service>
// beside this file.
func ContextDir(service string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		// Built with -trimpath: the path relative to this package, which is the
		// working directory of its own tests.
		return filepath.Join("testdata", service)
	}
	return filepath.Join(filepath.Dir(file), "testdata", service)
}
