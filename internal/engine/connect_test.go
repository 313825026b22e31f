package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pki is a certificate authority with a server and a client certificate, written to
// a directory in the layout of DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem: the
// client's) plus server.pem and server-key.pem.
type pki struct {
	dir    string
	pool   *x509.CertPool
	server tls.Certificate
}

// newPKI generates a fresh CA, a server certificate for 127.0.0.1 and a client
// certificate, and writes them into a new temporary directory.
func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "containertest test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der, key
	}
	serverDER, serverKey := issue(2, "engine", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	clientDER, clientKey := issue(3, "containertest client", x509.ExtKeyUsageClientAuth, nil)

	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", clientDER)
	writePEM(t, filepath.Join(dir, "key.pem"), "EC PRIVATE KEY", marshalKey(t, clientKey))
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", serverDER)
	writePEM(t, filepath.Join(dir, "server-key.pem"), "EC PRIVATE KEY", marshalKey(t, serverKey))

	server, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{dir: dir, pool: pool, server: server}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return b
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// fakeEngine answers /_ping as a Docker engine speaking apiVersion does, and counts
// the pings that presented a client certificate the server verified.
type fakeEngine struct {
	*httptest.Server
	pings         atomic.Int32
	verifiedPings atomic.Int32
}

func (f *fakeEngine) handler(apiVersion string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		f.pings.Add(1)
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			f.verifiedPings.Add(1)
		}
		w.Header().Set("Api-Version", apiVersion)
		w.Header().Set("Ostype", "linux")
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
		if r.Method == http.MethodGet {
			w.Write([]byte("OK"))
		}
	})
}

// startTLSEngine starts a fake engine on 127.0.0.1 that requires a client certificate
// signed by ca (nil: any certificate is refused, since none verifies).
func startTLSEngine(t *testing.T, serverCert tls.Certificate, ca *x509.CertPool, apiVersion string) *fakeEngine {
	t.Helper()
	f := &fakeEngine{}
	f.Server = httptest.NewUnstartedServer(f.handler(apiVersion))
	if ca == nil {
		ca = x509.NewCertPool()
	}
	f.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca,
	}
	f.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	f.StartTLS()
	t.Cleanup(f.Close)
	return f
}

func tcpAddr(s *httptest.Server) string {
	return "tcp://" + s.Listener.Addr().String()
}

func TestTLSConfigFromGeneratedCerts(t *testing.T) {
	p := newPKI(t)
	tc, err := TLSConfig(TLSFiles{
		CAFile:   filepath.Join(p.dir, "ca.pem"),
		CertFile: filepath.Join(p.dir, "cert.pem"),
		KeyFile:  filepath.Join(p.dir, "key.pem"),
		Verify:   true,
	})
	require.NoError(t, err)
	assert.False(t, tc.InsecureSkipVerify)
	require.Len(t, tc.Certificates, 1, "the client certificate is loaded")
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, "containertest client", leaf.Subject.CommonName)
	require.NotNil(t, tc.RootCAs)
	assert.True(t, tc.RootCAs.Equal(p.pool), "the roots are exactly the CA file (exclusive root pool)")

	tc, err = TLSConfig(TLSFiles{CAFile: filepath.Join(p.dir, "ca.pem")})
	require.NoError(t, err)
	assert.True(t, tc.InsecureSkipVerify, "Verify false skips server verification")
	assert.Empty(t, tc.Certificates)
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name  string
		files TLSFiles
	}{
		{"missing ca", TLSFiles{CAFile: filepath.Join(p.dir, "nope.pem"), Verify: true}},
		{"ca not pem", TLSFiles{CAFile: writeFile(t, "garbage"), Verify: true}},
		{"missing key", TLSFiles{CertFile: filepath.Join(p.dir, "cert.pem"), KeyFile: filepath.Join(p.dir, "nope.pem")}},
		{"key does not match", TLSFiles{CertFile: filepath.Join(p.dir, "cert.pem"), KeyFile: filepath.Join(p.dir, "server-key.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TLSConfig(tt.files)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "load tls config: "), err.Error())
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestConnectTLSDockerHost(t *testing.T) {
	p := newPKI(t)
	eng := startTLSEngine(t, p.server, p.pool, "1.41")
	env := isolatedEnv(t)
	env.DockerHost = tcpAddr(eng.Server)
	env.TLSVerify = "1"
	env.CertPath = p.dir

	e, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	assert.Equal(t, "DOCKER_HOST", e.Source)
	assert.Equal(t, env.DockerHost, e.Addr)
	assert.Equal(t, "1.41", e.APIVersion, "the version is negotiated down to the engine's")
	assert.Equal(t, "127.0.0.1", e.Host)
	assert.False(t, e.Remote)
	assert.EqualValues(t, 1, eng.pings.Load(), "exactly one ping")
	assert.EqualValues(t, 1, eng.verifiedPings.Load(), "the ping carried a verified client certificate")
}

func TestConnectTLSContext(t *testing.T) {
	p := newPKI(t)
	eng := startTLSEngine(t, p.server, p.pool, "1.45")
	env := isolatedEnv(t)
	cfg := filepath.Join(env.Home, ".docker")
	tlsDir := writeContext(t, cfg, "secure", tcpAddr(eng.Server), false, nil)
	require.NoError(t, os.MkdirAll(tlsDir, 0o700))
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		b, err := os.ReadFile(filepath.Join(p.dir, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(tlsDir, f), b, 0o600))
	}
	writeConfig(t, cfg, "secure")

	e, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	assert.Equal(t, `docker context "secure"`, e.Source)
	assert.Equal(t, "1.45", e.APIVersion)
	assert.EqualValues(t, 1, eng.verifiedPings.Load())
}

func TestConnectTLSFailures(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t) // a CA the server does not trust and a server cert the client does not trust

	t.Run("server cert from an unknown CA", func(t *testing.T) {
		eng := startTLSEngine(t, other.server, p.pool, "1.41")
		env := isolatedEnv(t)
		env.DockerHost = tcpAddr(eng.Server)
		env.TLSVerify = "1"
		env.CertPath = p.dir
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "DOCKER_HOST ("+env.DockerHost+")")
		assert.Contains(t, err.Error(), "certificate signed by unknown authority")
		assert.ErrorIs(t, err, ErrServerCertUntrusted)
		assert.Zero(t, eng.pings.Load())
	})
	t.Run("unknown server cert accepted without verify", func(t *testing.T) {
		eng := startTLSEngine(t, other.server, p.pool, "1.41")
		env := isolatedEnv(t)
		env.DockerHost = tcpAddr(eng.Server)
		env.CertPath = p.dir // no DOCKER_TLS_VERIFY
		e, err := Connect(t.Context(), env)
		require.NoError(t, err)
		e.Client.Close()
		assert.EqualValues(t, 1, eng.verifiedPings.Load(), "the client certificate is still presented")
	})
	t.Run("client cert the server does not trust", func(t *testing.T) {
		eng := startTLSEngine(t, p.server, other.pool, "1.41")
		env := isolatedEnv(t)
		env.DockerHost = tcpAddr(eng.Server)
		env.TLSVerify = "1"
		env.CertPath = p.dir
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "DOCKER_HOST ("+env.DockerHost+"): ping: "+ErrClientCertRefused.Error())
		assert.ErrorIs(t, err, ErrClientCertRefused)
		assert.Zero(t, eng.pings.Load())
	})
	t.Run("plain http to a tls engine", func(t *testing.T) {
		eng := startTLSEngine(t, p.server, p.pool, "1.41")
		env := isolatedEnv(t)
		env.DockerHost = tcpAddr(eng.Server)
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.ErrorIs(t, err, ErrEngineWantsTLS)
		assert.Zero(t, eng.pings.Load())
	})
	t.Run("tls to a plain engine", func(t *testing.T) {
		f := &fakeEngine{}
		f.Server = httptest.NewServer(f.handler("1.41"))
		t.Cleanup(f.Close)
		env := isolatedEnv(t)
		env.DockerHost = tcpAddr(f.Server)
		env.TLSVerify = "1"
		env.CertPath = p.dir
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.ErrorIs(t, err, ErrEngineNoTLS)
		assert.Zero(t, f.pings.Load())
	})
	t.Run("missing cert files", func(t *testing.T) {
		env := isolatedEnv(t)
		env.DockerHost = "tcp://127.0.0.1:1"
		env.TLSVerify = "1"
		env.CertPath = t.TempDir()
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "load tls config")
	})
}

func TestConnectNegotiatesVersion(t *testing.T) {
	tests := []struct{ engine, want string }{
		{"1.41", "1.41"},
		{"1.44", "1.44"},
		{"1.24", "1.24"},
		// A newer engine than the client knows: the client keeps its own version.
		{"9.99", api.DefaultVersion},
	}
	for _, tt := range tests {
		t.Run(tt.engine, func(t *testing.T) {
			f := &fakeEngine{}
			f.Server = httptest.NewServer(f.handler(tt.engine))
			t.Cleanup(f.Close)
			env := isolatedEnv(t)
			env.DockerHost = tcpAddr(f.Server)
			e, err := Connect(t.Context(), env)
			require.NoError(t, err)
			t.Cleanup(func() { e.Client.Close() })
			assert.Equal(t, tt.want, e.APIVersion)
			assert.Equal(t, tt.want, e.Client.ClientVersion())
			assert.EqualValues(t, 1, f.pings.Load())
		})
	}
}

// TestConnectUnixSocket connects to a fake engine on a unix socket: the first candidate
// that answers wins and ports are reached on 127.0.0.1, whatever /.dockerenv says.
func TestConnectUnixSocket(t *testing.T) {
	env := isolatedEnv(t)
	dir, err := os.MkdirTemp("", "ct")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The default socket is stale (a file nobody listens on); the rootless one answers.
	env.DefaultSocket = staleSocket(t, filepath.Join(dir, "stale.sock"))
	env.XDGRuntimeDir = dir
	l, err := net.Listen("unix", filepath.Join(dir, "docker.sock"))
	require.NoError(t, err)
	f := &fakeEngine{}
	f.Server = httptest.NewUnstartedServer(f.handler("1.41"))
	f.Listener = l
	f.Start()
	t.Cleanup(f.Close)

	e, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	assert.Equal(t, "rootless socket", e.Source)
	assert.Equal(t, "unix://"+filepath.Join(dir, "docker.sock"), e.Addr)
	assert.Equal(t, "127.0.0.1", e.Host)
	assert.False(t, e.Remote)

	env.ContainertestHost = "10.0.0.9"
	e2, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e2.Client.Close() })
	assert.Equal(t, "10.0.0.9", e2.Host, "CONTAINERTEST_HOST wins")
	assert.False(t, e2.Remote, "the engine is still local: CONTAINERTEST_HOST does not make it remote")
	assert.Equal(t, "10.0.0.9", e2.PublishIP(), "ports bind to that address only, never to all interfaces")

	env.ContainertestHost = "runner.internal"
	e3, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e3.Client.Close() })
	assert.Equal(t, "runner.internal", e3.Host)
	assert.False(t, e3.Remote)
	assert.Equal(t, "127.0.0.1", e3.PublishIP(), "a host name is not an address to bind to")
}

// staleSocket leaves a socket file at path with nothing listening: connecting to it is
// refused at once.
func staleSocket(t testing.TB, path string) string {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	return path
}

// closedPort returns a 127.0.0.1 port that nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func TestConnectUnreachableNamesEveryPlace(t *testing.T) {
	env := isolatedEnv(t)
	dir, err := os.MkdirTemp("", "ct")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	env.DefaultSocket = staleSocket(t, filepath.Join(dir, "docker.sock"))
	dead := "tcp://127.0.0.1:" + strconv.Itoa(closedPort(t))
	cfg := filepath.Join(env.Home, ".docker")
	writeContext(t, cfg, "dead", dead, false, nil)
	writeConfig(t, cfg, "dead")

	start := time.Now()
	_, err = Connect(t.Context(), env)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Less(t, time.Since(start), 3*time.Second, "refused connections fail fast")
	msg := err.Error()
	t.Log(msg)
	lines := strings.Split(msg, "\n")
	require.Len(t, lines, 5, "a header and one line per place tried")
	assert.Equal(t, "docker engine unavailable; tried:", lines[0])
	assert.Contains(t, lines[1], `docker context "dead" (`+dead+"): ping: ")
	assert.Contains(t, lines[2], "default socket (unix://"+env.DefaultSocket+"): ping: ")
	assert.Contains(t, lines[2], "connection refused")
	rootless := filepath.Join(env.XDGRuntimeDir, "docker.sock")
	assert.Contains(t, lines[3], "rootless socket (unix://"+rootless+"): no socket at "+rootless)
	home := filepath.Join(env.Home, ".docker", "run", "docker.sock")
	assert.Contains(t, lines[4], "rootless socket (unix://"+home+"): no socket at "+home)
}

func TestConnectUnreachableDockerHost(t *testing.T) {
	env := isolatedEnv(t)
	env.DefaultSocket = listenUnix(t) // exists, but DOCKER_HOST excludes it
	env.DockerHost = "tcp://127.0.0.1:" + strconv.Itoa(closedPort(t))
	_, err := Connect(t.Context(), env)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "DOCKER_HOST ("+env.DockerHost+"): ping: ")
	assert.NotContains(t, err.Error(), "default socket", "an explicit DOCKER_HOST is the only place tried")
}

func TestConnectHonoursContext(t *testing.T) {
	// An engine that accepts connections but never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	env := isolatedEnv(t)
	env.DockerHost = "tcp://" + l.Addr().String()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Connect(ctx, env)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second, "the caller's deadline bounds the ping")
}

// noEngineEnv is the machine without an engine, in each of its usual shapes: no socket
// file anywhere, a stale default socket left by a stopped dockerd, and a DOCKER_HOST
// that nothing listens on.
func noEngineEnvs(t testing.TB) map[string]Environ {
	t.Helper()
	none := isolatedEnv(t)
	stale := isolatedEnv(t)
	dir, err := os.MkdirTemp("", "ct")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	stale.DefaultSocket = staleSocket(t, filepath.Join(dir, "docker.sock"))
	host := isolatedEnv(t)
	host.DockerHost = "tcp://127.0.0.1:" + strconv.Itoa(closedPort(t))
	return map[string]Environ{"no socket": none, "stale socket": stale, "dead DOCKER_HOST": host}
}

// TestConnectNoEngineWaitsForNothing: when nothing listens, every place fails on its
// first answer from the kernel (no such file, connection refused), so resolution never
// waits for a ping timeout and HasDocker answers at once. The time is logged, never
// asserted (BenchmarkConnectNoEngine measures it).
func TestConnectNoEngineWaitsForNothing(t *testing.T) {
	for name, env := range noEngineEnvs(t) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Connect(t.Context(), env)
			took := time.Since(start)
			require.ErrorIs(t, err, ErrUnavailable)
			msg := err.Error()
			t.Logf("%v:\n%s", took, msg)
			lines := strings.Split(msg, "\n")
			require.Greater(t, len(lines), 1, "the places tried are listed")
			assert.Equal(t, "docker engine unavailable; tried:", lines[0])
			for _, l := range lines[1:] {
				immediate := strings.Contains(l, "no socket at ") || strings.Contains(l, "connection refused")
				assert.True(t, immediate, "each place fails without waiting: %q", l)
				assert.NotContains(t, l, "no answer within")
			}
			if env.DockerHost == "" {
				assert.Contains(t, msg, "default socket (unix://"+env.DefaultSocket+")")
				assert.Contains(t, msg, "rootless socket (unix://"+filepath.Join(env.XDGRuntimeDir, "docker.sock")+")")
			} else {
				assert.Contains(t, msg, "DOCKER_HOST ("+env.DockerHost+")")
			}
		})
	}
}

// BenchmarkConnectNoEngine measures a full resolution on a machine without an engine;
// the issue's budget for it is 100 ms (it takes well under a millisecond).
func BenchmarkConnectNoEngine(b *testing.B) {
	for name, env := range noEngineEnvs(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Connect(b.Context(), env); err == nil {
					b.Fatal("connected")
				}
			}
		})
	}
}
