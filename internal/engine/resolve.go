package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/containertest/containertest/internal/dockercfg"
)

// DefaultSocket is the engine's standard unix socket.
const DefaultSocket = "/var/run/docker.sock"

// A Candidate is one place an engine may answer, in the order they are tried.
type Candidate struct {
	// Source says where the candidate came from, for error messages:
	// "DOCKER_HOST", `docker context "remote"`, "default socket", "rootless socket".
	Source string
	// Host is the engine address, e.g. "unix:///var/run/docker.sock" or "tcp://10.0.0.5:2376".
	Host string
	// TLS, when non-nil, says how to secure a tcp connection.
	TLS *TLSFiles
	// Explicit candidates were asked for by the user (DOCKER_HOST, DOCKER_CONTEXT):
	// when one is present, no other place is tried.
	Explicit bool
	// Skip, when non-empty, is why the candidate was not pinged (e.g. no socket file).
	Skip string
}

// TLSFiles names the files of a TLS client configuration.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
	// Verify says whether the server certificate is checked.
	Verify bool
}

// Environ is the part of the process environment that resolution reads.
// It is a value so that tests can resolve without touching the real environment.
type Environ struct {
	DockerHost        string // DOCKER_HOST
	DockerContext     string // DOCKER_CONTEXT
	DockerConfig      string // DOCKER_CONFIG (directory holding config.json)
	TLSVerify         string // DOCKER_TLS_VERIFY
	CertPath          string // DOCKER_CERT_PATH
	Home              string // HOME
	XDGRuntimeDir     string // XDG_RUNTIME_DIR
	UID               int    // effective user id, for the rootless socket
	DefaultSocket     string // normally DefaultSocket; tests point it elsewhere
	ContainertestHost string // CONTAINERTEST_HOST
}

// EnvironFromOS reads the resolution inputs from the process environment.
func EnvironFromOS() Environ {
	home, _ := os.UserHomeDir()
	return Environ{
		DockerHost:        os.Getenv("DOCKER_HOST"),
		DockerContext:     os.Getenv("DOCKER_CONTEXT"),
		DockerConfig:      os.Getenv("DOCKER_CONFIG"),
		TLSVerify:         os.Getenv("DOCKER_TLS_VERIFY"),
		CertPath:          os.Getenv("DOCKER_CERT_PATH"),
		Home:              home,
		XDGRuntimeDir:     os.Getenv("XDG_RUNTIME_DIR"),
		UID:               os.Geteuid(),
		DefaultSocket:     DefaultSocket,
		ContainertestHost: os.Getenv("CONTAINERTEST_HOST"),
	}
}

func (e Environ) configDir() string { return dockercfg.Dir(e.DockerConfig, e.Home) }

// Candidates lists, in order, the places to look for an engine:
// DOCKER_HOST, the Docker CLI's current context, the default socket, the rootless socket.
// When DOCKER_HOST or DOCKER_CONTEXT is set, only that place is returned: a user who
// names an engine never silently gets another one.
func Candidates(env Environ) ([]Candidate, error) {
	if env.DockerHost != "" {
		c := Candidate{Source: "DOCKER_HOST", Explicit: true}
		// As in the Docker CLI and client.FromEnv: any non-empty DOCKER_TLS_VERIFY
		// (even "0") turns verification on; DOCKER_CERT_PATH alone means TLS without
		// verifying the server.
		verify := env.TLSVerify != ""
		if verify || env.CertPath != "" {
			dir := env.CertPath
			if dir == "" {
				dir = env.configDir()
			}
			c.TLS = &TLSFiles{
				CAFile:   filepath.Join(dir, "ca.pem"),
				CertFile: filepath.Join(dir, "cert.pem"),
				KeyFile:  filepath.Join(dir, "key.pem"),
				Verify:   verify,
			}
		}
		h, err := normalizeHost(env.DockerHost, c.TLS != nil)
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST: %w", err)
		}
		c.Host = h
		return []Candidate{c}, nil
	}

	var out []Candidate
	name, explicit := env.DockerContext, env.DockerContext != ""
	if !explicit {
		cur, err := currentContext(env.configDir())
		if err != nil {
			return nil, err
		}
		name = cur
	}
	if name != "" && name != "default" {
		c, err := contextCandidate(env.configDir(), name)
		if err != nil {
			return nil, err
		}
		c.Explicit = explicit
		if explicit {
			return []Candidate{c}, nil
		}
		out = append(out, c)
	}

	def := env.DefaultSocket
	if def == "" {
		def = DefaultSocket
	}
	out = append(out, socketCandidate("default socket", def))
	for _, p := range rootlessSockets(env) {
		out = append(out, socketCandidate("rootless socket", p))
	}
	return out, nil
}

func rootlessSockets(env Environ) []string {
	var ps []string
	if env.XDGRuntimeDir != "" {
		ps = append(ps, filepath.Join(env.XDGRuntimeDir, "docker.sock"))
	} else if env.UID > 0 {
		ps = append(ps, fmt.Sprintf("/run/user/%d/docker.sock", env.UID))
	}
	if env.Home != "" {
		// Docker Desktop and colima-style per-user sockets.
		ps = append(ps, filepath.Join(env.Home, ".docker", "run", "docker.sock"))
	}
	return ps
}

func socketCandidate(source, path string) Candidate {
	c := Candidate{Source: source, Host: "unix://" + path}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.Skip = "no socket at " + path
		} else {
			c.Skip = err.Error()
		}
	}
	return c
}

// Default engine ports for a tcp address without one, as the Docker CLI uses them.
const (
	defaultTCPPort = "2375"
	defaultTLSPort = "2376"
)

// normalizeHost validates an engine address such as unix:///path or tcp://host:port and
// returns it in the form the client needs: a tcp address without a port gets the
// Docker CLI's default (2376 with TLS, 2375 without) instead of HTTP's port 80.
func normalizeHost(h string, useTLS bool) (string, error) {
	u, err := url.Parse(h)
	if err != nil {
		return "", fmt.Errorf("parse engine address %q: %w", h, err)
	}
	switch u.Scheme {
	case "unix", "npipe":
		if u.Path == "" {
			return "", fmt.Errorf("engine address %q has no socket path", h)
		}
	case "tcp", "http", "https":
		if u.Hostname() == "" {
			return "", fmt.Errorf("engine address %q has no host", h)
		}
		if u.Scheme == "tcp" && u.Port() == "" {
			port := defaultTCPPort
			if useTLS {
				port = defaultTLSPort
			}
			u.Host = net.JoinHostPort(u.Hostname(), port)
			return u.String(), nil
		}
	case "ssh":
		// ssh://[user@]host[:port]: the engine is reached through `ssh host docker
		// system dial-stdio`, as the Docker CLI reaches it.
		if _, err := sshArgs(h); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("engine address %q: unknown scheme %q (want unix, tcp, ssh or npipe)", h, u.Scheme)
	}
	return h, nil
}

// currentContext reads the Docker CLI's current context name from config.json.
// A missing file, or no config directory, means the default context.
func currentContext(configDir string) (string, error) {
	if configDir == "" {
		return "", nil
	}
	f, _, err := dockercfg.Read(configDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return f.CurrentContext, nil
}

type contextMeta struct {
	Name      string `json:"Name"`
	Endpoints map[string]struct {
		Host          string `json:"Host"`
		SkipTLSVerify bool   `json:"SkipTLSVerify"`
	} `json:"Endpoints"`
}

// contextCandidate reads a CLI context's docker endpoint: the metadata lives in
// contexts/meta/<sha256(name)>/meta.json, TLS material in contexts/tls/<sha256(name)>/docker/.
func contextCandidate(configDir, name string) (Candidate, error) {
	if configDir == "" {
		return Candidate{}, fmt.Errorf("docker context %q: no Docker config directory (neither DOCKER_CONFIG nor HOME is set)", name)
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return Candidate{}, fmt.Errorf("read docker context %q: %w", name, err)
	}
	var m contextMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return Candidate{}, fmt.Errorf("parse docker context %q (%s): %w", name, metaPath, err)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return Candidate{}, fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	c := Candidate{Source: fmt.Sprintf("docker context %q", name)}
	tlsDir := filepath.Join(configDir, "contexts", "tls", id, "docker")
	files := &TLSFiles{Verify: !ep.SkipTLSVerify}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ca.pem", &files.CAFile}, {"cert.pem", &files.CertFile}, {"key.pem", &files.KeyFile}} {
		p := filepath.Join(tlsDir, f.name)
		if _, err := os.Stat(p); err == nil {
			*f.dst = p
		}
	}
	if files.CAFile != "" || files.CertFile != "" || ep.SkipTLSVerify {
		c.TLS = files
	}
	h, err := normalizeHost(ep.Host, c.TLS != nil)
	if err != nil {
		return Candidate{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	c.Host = h
	return c, nil
}

// HostFor returns the host name at which ports that an engine at addr publishes are reached:
// 127.0.0.1 for a local socket, the engine's host name for tcp. override (CONTAINERTEST_HOST)
// wins when set.
func HostFor(addr, override string) string {
	if override != "" {
		return override
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "127.0.0.1"
	}
	switch u.Scheme {
	case "tcp", "http", "https", "ssh":
		h := u.Hostname()
		if h == "" || h == "localhost" {
			return "127.0.0.1"
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			return "127.0.0.1"
		}
		return h
	}
	return "127.0.0.1"
}
