// Package nginx_test is the nginx example suite (examples/nginx) written with
// testcontainers-go: nginx, built from the example's Dockerfile, serves a static site
// and proxies /api/ to a busybox CGI backend that it reaches by network alias.
package nginx_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	testcontainers "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/internal/bench/tcsuite"
)

func TestMain(m *testing.M) { tcsuite.Main(m) }

// echoCGI is the backend's one endpoint: it answers with what it was asked and which
// headers the proxy added.
const echoCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "method=$REQUEST_METHOD"
echo "query=$QUERY_STRING"
echo "forwarded-for=$HTTP_X_FORWARDED_FOR"
echo "request-id=$HTTP_X_REQUEST_ID"
`

// testOutput sends a container's log to the test's output.
type testOutput struct{ w io.Writer }

func (o testOutput) Accept(l testcontainers.Log) { _, _ = o.w.Write(l.Content) }

// startProxy starts the backend and then nginx in front of it, on a network of the
// test's own, and returns nginx. Both are removed when the test ends.
func startProxy(t *testing.T) *testcontainers.DockerContainer {
	t.Helper()
	ctx := t.Context()
	nw, err := network.New(ctx, network.WithLabels(tcsuite.Labels()))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatal(err)
	}

	// The backend is busybox httpd running a CGI script. It publishes no port (its
	// image EXPOSEs none): only nginx talks to it, as "backend" on the test's network.
	backend, err := testcontainers.Run(ctx, "busybox:latest",
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(echoCGI),
			ContainerFilePath: "/www/cgi-bin/echo",
			FileMode:          0o755,
		}),
		testcontainers.WithCmd("httpd", "-f", "-p", "8080", "-h", "/www"),
		network.WithNetwork([]string{"backend"}, nw),
		testcontainers.WithLabels(tcsuite.Labels()),
		testcontainers.WithWaitStrategy(wait.ForExec([]string{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/cgi-bin/echo"})),
	)
	testcontainers.CleanupContainer(t, backend)
	if err != nil {
		t.Fatal(err)
	}

	// nginx resolves "backend" when it loads its configuration, so it starts second.
	proxy, err := testcontainers.Run(ctx, "",
		testcontainers.WithDockerfile(tcsuite.Dockerfile(tcsuite.Testdata("nginx", "proxy"))),
		network.WithNetwork(nil, nw),
		testcontainers.WithExposedPorts("80/tcp"),
		tcsuite.Loopback("80/tcp"),
		testcontainers.WithLabels(tcsuite.Labels()),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort("80/tcp")),
		testcontainers.WithLogConsumers(testOutput{t.Output()}),
	)
	testcontainers.CleanupContainer(t, proxy)
	if err != nil {
		t.Fatal(err)
	}
	return proxy
}

func TestNginx(t *testing.T) {
	proxy := startProxy(t)
	base, err := proxy.PortEndpoint(t.Context(), "80/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("static page", func(t *testing.T) {
		resp, body := get(t, base+"/", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: status %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html" {
			t.Errorf("GET /: Content-Type %q, want text/html", ct)
		}
		if !strings.Contains(body, "<h1>Served by nginx</h1>") {
			t.Errorf("GET /: body does not hold the site's page:\n%s", body)
		}
	})

	t.Run("gzip", func(t *testing.T) {
		resp, raw := get(t, base+"/", map[string]string{"Accept-Encoding": "gzip"})
		if enc := resp.Header.Get("Content-Encoding"); enc != "gzip" {
			t.Fatalf("GET / accepting gzip: Content-Encoding %q, want gzip", enc)
		}
		zr, err := gzip.NewReader(strings.NewReader(raw))
		if err != nil {
			t.Fatalf("read gzip body: %v", err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("read gzip body: %v", err)
		}
		if !strings.Contains(string(plain), "Served by nginx") {
			t.Errorf("decompressed body does not hold the page:\n%s", plain)
		}
	})

	t.Run("proxied to the backend", func(t *testing.T) {
		resp, body := get(t, base+"/api/echo?user=ada", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/echo: status %d, want 200; body:\n%s", resp.StatusCode, body)
		}
		for _, want := range []string{"method=GET\n", "query=user=ada\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("backend did not see %q; it answered:\n%s", strings.TrimSpace(want), body)
			}
		}
		if !regexp.MustCompile(`(?m)^forwarded-for=\d+\.\d+\.\d+\.\d+$`).MatchString(body) {
			t.Errorf("proxy did not set X-Forwarded-For; backend answered:\n%s", body)
		}
		if !regexp.MustCompile(`(?m)^request-id=[0-9a-f]{32}$`).MatchString(body) {
			t.Errorf("proxy did not set X-Request-Id; backend answered:\n%s", body)
		}
	})

	t.Run("missing page", func(t *testing.T) {
		resp, _ := get(t, base+"/no-such-page", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /no-such-page: status %d, want 404", resp.StatusCode)
		}
	})
}

// get fetches url with the given request headers and returns the response and its
// body as sent (transparent decompression is off).
func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(b)
}
