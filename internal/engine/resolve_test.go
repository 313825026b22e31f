package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isolatedEnv returns an Environ whose every path lies in fresh temporary directories,
// so that resolution never sees the real machine's config, sockets or variables.
func isolatedEnv(t testing.TB) Environ {
	t.Helper()
	return Environ{
		Home:          t.TempDir(),
		XDGRuntimeDir: t.TempDir(),
		UID:           1000,
		DefaultSocket: filepath.Join(t.TempDir(), "docker.sock"),
	}
}

func TestCandidatesDockerHost(t *testing.T) {
	certDir := t.TempDir()
	cfgDir := t.TempDir()
	tests := []struct {
		name string
		env  Environ
		want Candidate
	}{
		{
			name: "unix socket",
			env:  Environ{DockerHost: "unix:///srv/engine/docker.sock"},
			want: Candidate{Source: "DOCKER_HOST", Host: "unix:///srv/engine/docker.sock", Explicit: true},
		},
		{
			name: "tcp without tls",
			env:  Environ{DockerHost: "tcp://10.1.2.3:2375"},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2375", Explicit: true},
		},
		{
			name: "tcp without port gets the plain default port",
			env:  Environ{DockerHost: "tcp://10.1.2.3"},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2375", Explicit: true},
		},
		{
			name: "tcp with verify and cert path",
			env:  Environ{DockerHost: "tcp://engine.internal:2376", TLSVerify: "1", CertPath: certDir},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://engine.internal:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join(certDir, "ca.pem"),
				CertFile: filepath.Join(certDir, "cert.pem"),
				KeyFile:  filepath.Join(certDir, "key.pem"),
				Verify:   true,
			}},
		},
		{
			name: "tcp with tls and no port gets the tls default port",
			env:  Environ{DockerHost: "tcp://engine.internal", TLSVerify: "1", CertPath: certDir},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://engine.internal:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join(certDir, "ca.pem"),
				CertFile: filepath.Join(certDir, "cert.pem"),
				KeyFile:  filepath.Join(certDir, "key.pem"),
				Verify:   true,
			}},
		},
		{
			// Like the Docker CLI: any non-empty value turns verification on.
			name: "verify set to 0 still verifies",
			env:  Environ{DockerHost: "tcp://10.1.2.3:2376", TLSVerify: "0", CertPath: certDir},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join(certDir, "ca.pem"),
				CertFile: filepath.Join(certDir, "cert.pem"),
				KeyFile:  filepath.Join(certDir, "key.pem"),
				Verify:   true,
			}},
		},
		{
			name: "cert path alone means tls without verification",
			env:  Environ{DockerHost: "tcp://10.1.2.3:2376", CertPath: certDir},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join(certDir, "ca.pem"),
				CertFile: filepath.Join(certDir, "cert.pem"),
				KeyFile:  filepath.Join(certDir, "key.pem"),
			}},
		},
		{
			name: "verify without cert path reads the config dir",
			env:  Environ{DockerHost: "tcp://10.1.2.3:2376", TLSVerify: "1", DockerConfig: cfgDir},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join(cfgDir, "ca.pem"),
				CertFile: filepath.Join(cfgDir, "cert.pem"),
				KeyFile:  filepath.Join(cfgDir, "key.pem"),
				Verify:   true,
			}},
		},
		{
			name: "verify without cert path or config dir reads home/.docker",
			env:  Environ{DockerHost: "tcp://10.1.2.3:2376", TLSVerify: "1", Home: "/home/u"},
			want: Candidate{Source: "DOCKER_HOST", Host: "tcp://10.1.2.3:2376", Explicit: true, TLS: &TLSFiles{
				CAFile:   filepath.Join("/home/u", ".docker", "ca.pem"),
				CertFile: filepath.Join("/home/u", ".docker", "cert.pem"),
				KeyFile:  filepath.Join("/home/u", ".docker", "key.pem"),
				Verify:   true,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// DOCKER_HOST wins over everything else: a current context and an existing
			// default socket must not add candidates.
			env := tt.env
			home := t.TempDir()
			writeContext(t, filepath.Join(home, ".docker"), "other", "tcp://10.9.9.9:2375", false, nil)
			writeConfig(t, filepath.Join(home, ".docker"), "other")
			if env.Home == "" {
				env.Home = home
			}
			env.DefaultSocket = listenUnix(t)

			got, err := Candidates(env)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tt.want, got[0])
		})
	}
}

func TestCandidatesBadDockerHost(t *testing.T) {
	tests := []struct {
		host string
		want []string // substrings of the error
	}{
		{"ssh://me@engine.internal/var/run/docker.sock", []string{"DOCKER_HOST", "an ssh engine address has no path"}},
		{"ssh://me:secret@engine.internal", []string{"DOCKER_HOST", "no passwords in ssh addresses"}},
		{"ssh://", []string{"DOCKER_HOST", "no host"}},
		{"fd://", []string{"DOCKER_HOST", `unknown scheme "fd"`}},
		{"ftp://engine.internal:21", []string{"DOCKER_HOST", `unknown scheme "ftp"`}},
		{"10.1.2.3:2375", []string{"DOCKER_HOST", "10.1.2.3:2375"}},
		{"unix://", []string{"DOCKER_HOST", "no socket path"}},
		{"tcp://", []string{"DOCKER_HOST", "no host"}},
		{"tcp://:2375", []string{"DOCKER_HOST", "no host"}},
		{"tcp://%zz", []string{"DOCKER_HOST", "parse engine address"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			env := isolatedEnv(t)
			env.DockerHost = tt.host
			_, err := Candidates(env)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}

			// Connect reports the same problem as an unavailable engine, without pinging.
			_, err = Connect(t.Context(), env)
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Contains(t, err.Error(), tt.want[len(tt.want)-1])
		})
	}
}

func TestCandidatesDefaultOrder(t *testing.T) {
	env := isolatedEnv(t)
	got, err := Candidates(env)
	require.NoError(t, err)
	want := []Candidate{
		{Source: "default socket", Host: "unix://" + env.DefaultSocket, Skip: "no socket at " + env.DefaultSocket},
		{Source: "rootless socket", Host: "unix://" + filepath.Join(env.XDGRuntimeDir, "docker.sock"),
			Skip: "no socket at " + filepath.Join(env.XDGRuntimeDir, "docker.sock")},
		{Source: "rootless socket", Host: "unix://" + filepath.Join(env.Home, ".docker", "run", "docker.sock"),
			Skip: "no socket at " + filepath.Join(env.Home, ".docker", "run", "docker.sock")},
	}
	assert.Equal(t, want, got)
}

func TestCandidatesSocketPresent(t *testing.T) {
	env := isolatedEnv(t)
	env.DefaultSocket = listenUnix(t)
	got, err := Candidates(env)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Equal(t, Candidate{Source: "default socket", Host: "unix://" + env.DefaultSocket}, got[0],
		"an existing socket must be pinged, not skipped")
}

func TestCandidatesRootlessWithoutXDGRuntimeDir(t *testing.T) {
	env := isolatedEnv(t)
	env.XDGRuntimeDir = ""
	env.UID = 1234
	got, err := Candidates(env)
	require.NoError(t, err)
	var hosts []string
	for _, c := range got {
		hosts = append(hosts, c.Host)
	}
	assert.Equal(t, []string{
		"unix://" + env.DefaultSocket,
		"unix:///run/user/1234/docker.sock",
		"unix://" + filepath.Join(env.Home, ".docker", "run", "docker.sock"),
	}, hosts)

	// root has no per-user runtime socket.
	env.UID = 0
	got, err = Candidates(env)
	require.NoError(t, err)
	for _, c := range got {
		assert.NotContains(t, c.Host, "/run/user/")
	}
}

func TestCandidatesCurrentContext(t *testing.T) {
	env := isolatedEnv(t)
	cfg := filepath.Join(env.Home, ".docker")
	tlsDir := writeContext(t, cfg, "remote", "tcp://10.1.2.3:2376", false, []string{"ca.pem", "cert.pem", "key.pem"})
	writeConfig(t, cfg, "remote")

	got, err := Candidates(env)
	require.NoError(t, err)
	require.Len(t, got, 4, "context, default socket, two rootless sockets")
	assert.Equal(t, Candidate{
		Source: `docker context "remote"`,
		Host:   "tcp://10.1.2.3:2376",
		TLS: &TLSFiles{
			CAFile:   filepath.Join(tlsDir, "ca.pem"),
			CertFile: filepath.Join(tlsDir, "cert.pem"),
			KeyFile:  filepath.Join(tlsDir, "key.pem"),
			Verify:   true,
		},
	}, got[0])
	assert.Equal(t, "default socket", got[1].Source)
	assert.Equal(t, "rootless socket", got[2].Source)
	assert.Equal(t, "rootless socket", got[3].Source)
}

func TestCandidatesContextInDockerConfig(t *testing.T) {
	env := isolatedEnv(t)
	env.DockerConfig = t.TempDir()
	writeContext(t, env.DockerConfig, "lab", "unix:///srv/lab/docker.sock", false, nil)
	writeConfig(t, env.DockerConfig, "lab")
	// A config in HOME must be ignored when DOCKER_CONFIG is set.
	writeContext(t, filepath.Join(env.Home, ".docker"), "home", "tcp://10.9.9.9:2375", false, nil)
	writeConfig(t, filepath.Join(env.Home, ".docker"), "home")

	got, err := Candidates(env)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Equal(t, Candidate{Source: `docker context "lab"`, Host: "unix:///srv/lab/docker.sock"}, got[0])
}

func TestCandidatesContextTLSVariants(t *testing.T) {
	t.Run("skip verify without files", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		writeContext(t, cfg, "insecure", "tcp://10.1.2.3:2376", true, nil)
		writeConfig(t, cfg, "insecure")
		got, err := Candidates(env)
		require.NoError(t, err)
		assert.Equal(t, &TLSFiles{Verify: false}, got[0].TLS)
	})
	t.Run("ca only", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		dir := writeContext(t, cfg, "ca-only", "tcp://10.1.2.3", false, []string{"ca.pem"})
		writeConfig(t, cfg, "ca-only")
		got, err := Candidates(env)
		require.NoError(t, err)
		assert.Equal(t, &TLSFiles{CAFile: filepath.Join(dir, "ca.pem"), Verify: true}, got[0].TLS)
		assert.Equal(t, "tcp://10.1.2.3:2376", got[0].Host, "a tls context without port gets 2376")
	})
	t.Run("no tls material", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		writeContext(t, cfg, "plain", "tcp://10.1.2.3", false, nil)
		writeConfig(t, cfg, "plain")
		got, err := Candidates(env)
		require.NoError(t, err)
		assert.Nil(t, got[0].TLS)
		assert.Equal(t, "tcp://10.1.2.3:2375", got[0].Host)
	})
}

func TestCandidatesDefaultContext(t *testing.T) {
	for _, name := range []string{"default", ""} {
		t.Run("current="+name, func(t *testing.T) {
			env := isolatedEnv(t)
			writeConfig(t, filepath.Join(env.Home, ".docker"), name)
			got, err := Candidates(env)
			require.NoError(t, err)
			require.NotEmpty(t, got)
			assert.Equal(t, "default socket", got[0].Source)
		})
	}
	t.Run("config without currentContext", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		require.NoError(t, os.MkdirAll(cfg, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{}}`), 0o600))
		got, err := Candidates(env)
		require.NoError(t, err)
		assert.Equal(t, "default socket", got[0].Source)
	})
}

func TestCandidatesDockerContextExplicit(t *testing.T) {
	env := isolatedEnv(t)
	cfg := filepath.Join(env.Home, ".docker")
	writeContext(t, cfg, "current", "tcp://10.9.9.9:2375", false, nil)
	writeContext(t, cfg, "chosen", "tcp://10.1.2.3:2375", false, nil)
	writeConfig(t, cfg, "current")
	env.DefaultSocket = listenUnix(t)
	env.DockerContext = "chosen"

	got, err := Candidates(env)
	require.NoError(t, err)
	assert.Equal(t, []Candidate{{Source: `docker context "chosen"`, Host: "tcp://10.1.2.3:2375", Explicit: true}}, got,
		"DOCKER_CONTEXT names the only place to try")

	// DOCKER_HOST still wins over DOCKER_CONTEXT, as in the Docker CLI.
	env.DockerHost = "unix:///srv/engine/docker.sock"
	got, err = Candidates(env)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "DOCKER_HOST", got[0].Source)
}

func TestCandidatesContextErrors(t *testing.T) {
	t.Run("missing context", func(t *testing.T) {
		env := isolatedEnv(t)
		writeConfig(t, filepath.Join(env.Home, ".docker"), "gone")
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `read docker context "gone"`)
	})
	t.Run("explicit missing context", func(t *testing.T) {
		env := isolatedEnv(t)
		env.DockerContext = "nowhere"
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `docker context "nowhere"`)
	})
	t.Run("no docker endpoint", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		writeMeta(t, cfg, "k8s", map[string]any{"Name": "k8s", "Endpoints": map[string]any{"kubernetes": map[string]any{"Host": "https://10.1.2.3"}}})
		writeConfig(t, cfg, "k8s")
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `docker context "k8s" has no docker endpoint`)
	})
	t.Run("ssh endpoint", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		writeContext(t, cfg, "over-ssh", "ssh://me@engine.internal/docker.sock", false, nil)
		writeConfig(t, cfg, "over-ssh")
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `docker context "over-ssh"`)
		assert.Contains(t, err.Error(), "an ssh engine address has no path")
	})
	t.Run("bad config json", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		require.NoError(t, os.MkdirAll(cfg, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte("{"), 0o600))
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "parse docker config")
	})
	t.Run("bad meta json", func(t *testing.T) {
		env := isolatedEnv(t)
		cfg := filepath.Join(env.Home, ".docker")
		dir := filepath.Join(cfg, "contexts", "meta", contextID("broken"))
		require.NoError(t, os.MkdirAll(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "meta.json"), []byte("not json"), 0o600))
		writeConfig(t, cfg, "broken")
		_, err := Candidates(env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `parse docker context "broken"`)
	})
}

func TestHostFor(t *testing.T) {
	tests := []struct {
		addr, override, want string
	}{
		{"unix:///var/run/docker.sock", "", "127.0.0.1"},
		{"unix:///run/user/1000/docker.sock", "", "127.0.0.1"},
		{"npipe:////./pipe/docker_engine", "", "127.0.0.1"},
		{"tcp://10.0.0.5:2376", "", "10.0.0.5"},
		{"tcp://engine.internal:2375", "", "engine.internal"},
		{"tcp://localhost:2375", "", "127.0.0.1"},
		{"tcp://127.0.0.1:2375", "", "127.0.0.1"},
		{"tcp://0.0.0.0:2375", "", "127.0.0.1"},
		{"tcp://[::]:2375", "", "127.0.0.1"},
		{"tcp://[::1]:2375", "", "::1"},
		{"tcp://[fd00::5]:2376", "", "fd00::5"},
		{"https://10.0.0.7:2376", "", "10.0.0.7"},
		{"unix:///var/run/docker.sock", "192.168.7.7", "192.168.7.7"},
		{"tcp://10.0.0.5:2376", "gateway.internal", "gateway.internal"},
		{"::not a url::", "", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"|"+tt.override, func(t *testing.T) {
			assert.Equal(t, tt.want, HostFor(tt.addr, tt.override))
		})
	}
}

// TestHostForIgnoresDockerenv pins down that a stray /.dockerenv (some CI runners and
// this project's own build machines have one without running inside a container) does
// not change where a local engine's ports are reached. The end-to-end check that the
// address really answers is TestGetReachesPublishedPort.
func TestHostForIgnoresDockerenv(t *testing.T) {
	if _, err := os.Stat("/.dockerenv"); err == nil {
		t.Log("/.dockerenv exists on this machine")
	}
	assert.Equal(t, "127.0.0.1", HostFor("unix:///var/run/docker.sock", ""))
	src, err := os.ReadFile("resolve.go")
	require.NoError(t, err)
	assert.NotContains(t, string(src), ".dockerenv", "host resolution must not look at /.dockerenv")
	src, err = os.ReadFile("engine.go")
	require.NoError(t, err)
	assert.NotContains(t, string(src), ".dockerenv", "host resolution must not look at /.dockerenv")
}

func TestEnvironFromOS(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://10.1.2.3:2376")
	t.Setenv("DOCKER_CONTEXT", "ctx")
	t.Setenv("DOCKER_CONFIG", "/cfg")
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Setenv("DOCKER_CERT_PATH", "/certs")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/77")
	t.Setenv("CONTAINERTEST_HOST", "10.0.0.9")
	env := EnvironFromOS()
	assert.Equal(t, "tcp://10.1.2.3:2376", env.DockerHost)
	assert.Equal(t, "ctx", env.DockerContext)
	assert.Equal(t, "/cfg", env.DockerConfig)
	assert.Equal(t, "1", env.TLSVerify)
	assert.Equal(t, "/certs", env.CertPath)
	assert.Equal(t, "/run/user/77", env.XDGRuntimeDir)
	assert.Equal(t, "10.0.0.9", env.ContainertestHost)
	assert.Equal(t, DefaultSocket, env.DefaultSocket)
	assert.Equal(t, os.Geteuid(), env.UID)
}

// contextID is the directory name the Docker CLI uses for a context.
func contextID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// writeConfig writes config.json naming the current context into cfgDir.
func writeConfig(t *testing.T, cfgDir, current string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{}, "currentContext": current})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.json"), b, 0o600))
}

// writeMeta writes a context's meta.json as the Docker CLI lays it out.
func writeMeta(t *testing.T, cfgDir, name string, meta map[string]any) {
	t.Helper()
	dir := filepath.Join(cfgDir, "contexts", "meta", contextID(name))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	b, err := json.Marshal(meta)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "meta.json"), b, 0o600))
}

// writeContext writes a context named name with a docker endpoint at host, as
// `docker context create` does, with empty placeholder TLS files named in tlsFiles
// (use writeCerts for real ones). It returns the context's docker TLS directory.
func writeContext(t *testing.T, cfgDir, name, host string, skipVerify bool, tlsFiles []string) string {
	t.Helper()
	writeMeta(t, cfgDir, name, map[string]any{
		"Name":     name,
		"Metadata": map[string]any{"Description": "made by a test"},
		"Endpoints": map[string]any{
			"docker": map[string]any{"Host": host, "SkipTLSVerify": skipVerify},
		},
	})
	tlsDir := filepath.Join(cfgDir, "contexts", "tls", contextID(name), "docker")
	if len(tlsFiles) > 0 {
		require.NoError(t, os.MkdirAll(tlsDir, 0o700))
		for _, f := range tlsFiles {
			require.NoError(t, os.WriteFile(filepath.Join(tlsDir, f), nil, 0o600))
		}
	}
	return tlsDir
}

// listenUnix makes a unix socket that accepts nothing and returns its path. The path
// is kept short: socket paths are limited to about 100 bytes.
func listenUnix(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ct")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", p)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return p
}

func TestCandidatesSSH(t *testing.T) {
	env := isolatedEnv(t)
	env.DockerHost = "ssh://ci@engine.internal:2222"
	got, err := Candidates(env)
	require.NoError(t, err)
	assert.Equal(t, []Candidate{{Source: "DOCKER_HOST", Host: "ssh://ci@engine.internal:2222", Explicit: true}}, got)

	cfg := filepath.Join(env.Home, ".docker")
	writeContext(t, cfg, "over-ssh", "ssh://engine.internal", false, nil)
	env.DockerHost, env.DockerContext = "", "over-ssh"
	got, err = Candidates(env)
	require.NoError(t, err)
	assert.Equal(t, []Candidate{{Source: `docker context "over-ssh"`, Host: "ssh://engine.internal", Explicit: true}}, got)
}

func TestSSHArgs(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"ssh://engine.internal", "-o ConnectTimeout=30 -o BatchMode=yes -T -- engine.internal docker system dial-stdio"},
		{"ssh://ci@127.0.0.1:2222", "-o ConnectTimeout=30 -o BatchMode=yes -T -l ci -p 2222 -- 127.0.0.1 docker system dial-stdio"},
		{"ssh://ci@[::1]:2222/", "-o ConnectTimeout=30 -o BatchMode=yes -T -l ci -p 2222 -- ::1 docker system dial-stdio"},
		// A host that looks like an option stays an argument after "--".
		{"ssh://-oProxyCommand=x", "-o ConnectTimeout=30 -o BatchMode=yes -T -- -oProxyCommand=x docker system dial-stdio"},
	}
	for _, tt := range tests {
		got, err := sshArgs(tt.addr)
		require.NoError(t, err, tt.addr)
		assert.Equal(t, tt.want, strings.Join(got, " "), tt.addr)
	}
}
