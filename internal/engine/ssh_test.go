package engine

import (
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelperFakeSSH is not a test: run as the fake `ssh` of the tests below, it checks
// that it was asked to run `docker system dial-stdio` and relays its standard input and
// output to the unix socket in CT_FAKE_SSH_SOCKET, as the remote docker CLI relays them
// to its engine; with CT_FAKE_SSH_FAIL it fails the way ssh does.
func TestHelperFakeSSH(t *testing.T) {
	sock := os.Getenv("CT_FAKE_SSH_SOCKET")
	if sock == "" {
		return
	}
	var args []string
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
			break
		}
	}
	// The connection-sharing options are checked by TestSSHMux.
	var plain []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-o" && i+1 < len(args) && strings.HasPrefix(args[i+1], "Control") {
			i++
			continue
		}
		plain = append(plain, args[i])
	}
	args = plain
	for _, a := range os.Args {
		if a == "-G" {
			os.Stdout.WriteString("user ci\nhostname " + os.Getenv("CT_FAKE_SSH_HOSTNAME") + "\nport 22\n")
			os.Exit(0)
		}
	}
	if n := os.Getenv("CT_FAKE_SSH_BURST"); n != "" {
		// Write a whole answer and exit at once, as dial-stdio does after the engine
		// closes a connection.
		size, _ := strconv.Atoi(n)
		os.Stdout.Write(bytes.Repeat([]byte("x"), size))
		os.Exit(0)
	}
	if msg := os.Getenv("CT_FAKE_SSH_FAIL"); msg != "" {
		os.Stderr.WriteString(msg + "\n")
		os.Exit(255)
	}
	if strings.Join(args, " ") != os.Getenv("CT_FAKE_SSH_WANT") {
		os.Stderr.WriteString("fake ssh: unexpected arguments: " + strings.Join(args, " ") + "\n")
		os.Exit(2)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.UnixConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	os.Exit(0)
}

// fakeSSH puts an `ssh` first on PATH that relays to a fake engine on a unix socket, and
// returns that engine.
func fakeSSH(t *testing.T, want, fail string) *fakeEngine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ct")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "e.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	f := &fakeEngine{}
	f.Server = httptest.NewUnstartedServer(f.handler("1.41"))
	f.Listener = l
	f.Start()
	t.Cleanup(f.Close)
	exe, err := os.Executable()
	require.NoError(t, err)
	script := "#!/bin/sh\nexec " + exe + " -test.run=^TestHelperFakeSSH$ -- \"$@\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("CT_FAKE_SSH_SOCKET", sock)
	t.Setenv("CT_FAKE_SSH_WANT", want)
	t.Setenv("CT_FAKE_SSH_FAIL", fail)
	t.Setenv("CT_FAKE_SSH_HOSTNAME", "127.0.0.1")
	return f
}

func TestConnectSSHThroughDialStdio(t *testing.T) {
	f := fakeSSH(t, "-o ConnectTimeout=30 -o BatchMode=yes -T -l ci -p 2222 -- 127.0.0.1 docker system dial-stdio", "")
	env := isolatedEnv(t)
	env.DockerHost = "ssh://ci@127.0.0.1:2222"
	e, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	assert.Equal(t, "ssh://ci@127.0.0.1:2222", e.Addr)
	assert.Equal(t, "127.0.0.1", e.Host, "the ssh host is where its ports are")
	assert.False(t, e.Remote, "a loopback ssh host is this machine")
	assert.EqualValues(t, 1, f.pings.Load())

	// A Host alias of the ssh configuration: ports are on the host it connects to.
	env.DockerHost = "ssh://ci-engine"
	t.Setenv("CT_FAKE_SSH_WANT", "-o ConnectTimeout=30 -o BatchMode=yes -T -- ci-engine docker system dial-stdio")
	t.Setenv("CT_FAKE_SSH_HOSTNAME", "build-1.internal")
	e2, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e2.Client.Close() })
	assert.Equal(t, "build-1.internal", e2.Host)
	assert.True(t, e2.Remote)
	assert.Equal(t, "0.0.0.0", e2.PublishIP(), "a remote engine's ports are reached from another machine")
}

// TestSSHConnReadsAllAfterExit: what ssh wrote before it exited is read in full, however
// soon it exits (os/exec closes its own pipes on exit, under the reader).
func TestSSHConnReadsAllAfterExit(t *testing.T) {
	fakeSSH(t, "", "")
	const size = 1 << 20
	t.Setenv("CT_FAKE_SSH_BURST", strconv.Itoa(size))
	for range 20 {
		c, err := dialSSH(t.Context(), "ssh://127.0.0.1")
		require.NoError(t, err)
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Len(t, b, size)
		require.NoError(t, c.Close())
	}
}

func TestSSHMux(t *testing.T) {
	args, err := sshArgs("ssh://ci@127.0.0.1:2222")
	require.NoError(t, err)
	got := strings.Join(withMux(args, "/home/ci/.cache/containertest/ssh", "ssh://ci@127.0.0.1:2222"), " ")
	assert.Regexp(t, `^-o ConnectTimeout=30 -o BatchMode=yes -T -l ci -p 2222 -o ControlMaster=auto -o ControlPath=/home/ci/.cache/containertest/ssh/[0-9a-f]{20} -o ControlPersist=30s -- 127.0.0.1 docker system dial-stdio$`, got)
	other := strings.Join(withMux(args, "/home/ci/.cache/containertest/ssh", "ssh://alias-with-another-key"), " ")
	assert.NotEqual(t, got, other, "two addresses never share a login")
	assert.Equal(t, args, withMux(args, "", "ssh://ci@127.0.0.1:2222"), "no directory, no sharing")

	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	muxOnce = sync.Once{}
	t.Cleanup(func() { muxOnce = sync.Once{} })
	d := sshMuxDir()
	require.NotEmpty(t, d)
	fi, err := os.Stat(d)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "only this user may reach the shared connection")
}

func TestConnectSSHFailureSaysWhy(t *testing.T) {
	fakeSSH(t, "", "ci@127.0.0.1: Permission denied (publickey).")
	env := isolatedEnv(t)
	env.DockerHost = "ssh://ci@127.0.0.1:2222"
	_, err := Connect(t.Context(), env)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, ErrSSH)
	assert.Contains(t, err.Error(), "DOCKER_HOST (ssh://ci@127.0.0.1:2222): ping: ")
	assert.Contains(t, err.Error(), "ssh engine: ssh to ssh://ci@127.0.0.1:2222: ci@127.0.0.1: Permission denied (publickey).")
}

func TestConnectSSHWithoutClient(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	env := isolatedEnv(t)
	env.DockerHost = "ssh://127.0.0.1"
	_, err := Connect(t.Context(), env)
	require.ErrorIs(t, err, ErrSSH)
	assert.Contains(t, err.Error(), "no ssh client (Debian: openssh-client)")
}

// TestConnectRealSSH runs against a real sshd that the CI stage .ci/stages/ssh.sh sets
// up; it names its engine address in CONTAINERTEST_TEST_SSH_HOST and one whose key the
// server refuses in CONTAINERTEST_TEST_SSH_BADKEY_HOST.
func TestConnectRealSSH(t *testing.T) {
	good, bad := os.Getenv("CONTAINERTEST_TEST_SSH_HOST"), os.Getenv("CONTAINERTEST_TEST_SSH_BADKEY_HOST")
	if good == "" {
		t.Skip("no sshd set up for this test (.ci/stages/ssh.sh sets CONTAINERTEST_TEST_SSH_HOST)")
	}
	env := isolatedEnv(t)
	env.DockerHost = good
	e, err := Connect(t.Context(), env)
	require.NoError(t, err)
	t.Cleanup(func() { e.Client.Close() })
	_, err = e.Client.ContainerList(t.Context(), container.ListOptions{Limit: 1})
	require.NoError(t, err)

	if bad != "" {
		env.DockerHost = bad
		_, err := Connect(t.Context(), env)
		require.ErrorIs(t, err, ErrSSH)
		assert.Contains(t, err.Error(), "Permission denied")
		t.Log(err)
	}
}
