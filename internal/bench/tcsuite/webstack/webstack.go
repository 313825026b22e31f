// Package webstack is the webstack example suite (examples/webstack) written with
// testcontainers-go: nginx → Flask app (gunicorn) → Redis on one network, each built
// from the example's Dockerfiles, reached only through nginx.
//
// testcontainers-go has no dependency order between containers: Start starts Redis,
// the application and nginx one after the other, each after the one before is ready,
// which is the order the example's StartAll follows. Each start builds its image.
package webstack

import (
	"net/http"
	"testing"

	testcontainers "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/internal/bench/tcsuite"
)

// ProxyPort is the port nginx publishes.
const ProxyPort = "80/tcp"

// A Stack is a started web stack. Its containers are terminated when the test that
// started it ends, then its network is removed.
type Stack struct {
	Network *testcontainers.DockerNetwork
	Redis   *testcontainers.DockerContainer
	App     *testcontainers.DockerContainer
	Proxy   *testcontainers.DockerContainer
	url     string
}

// URL returns the URL of path on the stack's front door, nginx's published port.
func (s *Stack) URL(path string) string { return s.url + path }

// ProxyReady is nginx's readiness strategy: GET /health through the proxy answers
// 200, which needs nginx, the application and Redis. Wait for it again with
// WaitUntilReady after repairing the stack.
func ProxyReady() *wait.HTTPStrategy {
	return wait.ForHTTP("/health").WithPort(ProxyPort).WithStatusCodeMatcher(func(s int) bool { return s == http.StatusOK })
}

// Start creates a network and starts Redis, the application and nginx on it, in
// that order; it fails the test when any of them does not become ready.
func Start(t testing.TB) *Stack {
	t.Helper()
	ctx := t.Context()
	nw, err := network.New(ctx, network.WithLabels(tcsuite.Labels()))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatal(err)
	}

	run := func(service string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
		t.Helper()
		opts = append([]testcontainers.ContainerCustomizer{
			testcontainers.WithDockerfile(tcsuite.Dockerfile(tcsuite.Testdata("webstack", service))),
			testcontainers.WithLabels(tcsuite.Labels()),
		}, opts...)
		c, err := testcontainers.Run(ctx, "", opts...)
		testcontainers.CleanupContainer(t, c)
		if err != nil {
			t.Fatalf("start %s: %v", service, err)
		}
		return c
	}

	// The application and Redis expose no port in the requests; testcontainers-go
	// then publishes the ports their images EXPOSE (see Loopback).
	redis := run("redis",
		network.WithNetwork([]string{"redis"}, nw),
		tcsuite.Loopback("6379/tcp"),
		testcontainers.WithWaitStrategy(wait.ForExec([]string{"sh", "-c", "redis-cli ping | grep -qx PONG"})),
	)
	app := run("app",
		network.WithNetwork([]string{"app"}, nw),
		tcsuite.Loopback("8000/tcp"),
		testcontainers.WithWaitStrategy(wait.ForExec([]string{"python3", "-c",
			"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"})),
	)
	proxy := run("nginx",
		network.WithNetwork(nil, nw),
		testcontainers.WithExposedPorts(ProxyPort),
		tcsuite.Loopback(ProxyPort),
		testcontainers.WithWaitStrategy(ProxyReady()),
	)
	ep, err := proxy.PortEndpoint(ctx, ProxyPort, "http")
	if err != nil {
		t.Fatal(err)
	}
	return &Stack{Network: nw, Redis: redis, App: app, Proxy: proxy, url: ep}
}
