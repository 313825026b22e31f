package engine_test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/enginetest"
	"github.com/containertest/containertest/internal/testimages"
)

// tlsFront puts the machine's engine behind a mutual-TLS proxy on 127.0.0.1 and returns
// the proxy's engine address and its PKI (DOCKER_CERT_PATH layout).
func tlsFront(t *testing.T) (string, *enginetest.PKI) {
	t.Helper()
	e := testimages.Engine(t)
	u, err := url.Parse(e.Addr)
	require.NoError(t, err)
	if u.Scheme != "unix" {
		t.Skipf("the TLS proxy fronts a unix socket; this engine is at %s", e.Addr)
	}
	p, err := enginetest.NewPKI(t.TempDir(), "containertest test CA")
	require.NoError(t, err)
	l, err := enginetest.Listen("127.0.0.1:0")
	require.NoError(t, err)
	proxy := enginetest.NewTLSProxy(l, enginetest.ServerConfig(p.Server, p.Pool), u.Path)
	proxy.Log = t.Logf
	go proxy.Serve()
	t.Cleanup(func() { proxy.Close() })
	return "tcp://" + l.Addr().String(), p
}

// envFor is an Environ that names only DOCKER_HOST and the TLS variables.
func envFor(t *testing.T, host, verify, certPath string) engine.Environ {
	return engine.Environ{
		DockerHost: host, TLSVerify: verify, CertPath: certPath,
		Home: t.TempDir(), DefaultSocket: filepath.Join(t.TempDir(), "none.sock"),
	}
}

func TestConnectThroughTLSProxy(t *testing.T) {
	addr, p := tlsFront(t)
	e, err := engine.Connect(t.Context(), envFor(t, addr, "1", p.Dir))
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	assert.Equal(t, "127.0.0.1", e.Host, "a loopback tcp engine publishes where tests reach it")
	assert.False(t, e.Remote)
	_, err = e.Client.ContainerList(t.Context(), container.ListOptions{Limit: 1})
	require.NoError(t, err, "the API works through TLS")
}

// mixed copies the cert files of from into a new directory, replacing those named in
// with by the ones of other.
func mixed(t *testing.T, from, other *enginetest.PKI, with ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		src := from.Dir
		for _, w := range with {
			if w == f {
				src = other.Dir
			}
		}
		b, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	return dir
}

func TestConnectThroughTLSProxyFailures(t *testing.T) {
	addr, p := tlsFront(t)
	other, err := enginetest.NewPKI(t.TempDir(), "another CA")
	require.NoError(t, err)
	tests := []struct {
		name string
		env  engine.Environ
		is   error
		want string
	}{
		{"client certificate from another CA", envFor(t, addr, "1", mixed(t, p, other, "cert.pem", "key.pem")), engine.ErrClientCertRefused, "certificate required"},
		{"server certificate from an unknown CA", envFor(t, addr, "1", mixed(t, p, other, "ca.pem")), engine.ErrServerCertUntrusted, "certificate signed by unknown authority"},
		{"plain tcp client", envFor(t, addr, "", ""), engine.ErrEngineWantsTLS, "Client sent an HTTP request to an HTTPS server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.Connect(t.Context(), tt.env)
			require.ErrorIs(t, err, engine.ErrUnavailable)
			t.Log(err)
			assert.ErrorIs(t, err, tt.is)
			msg := err.Error()
			assert.Contains(t, msg, "DOCKER_HOST ("+addr+"): ping: "+tt.is.Error(), "the place, then the problem")
			assert.Contains(t, msg, tt.want, "the engine's own words follow")
		})
	}
}
