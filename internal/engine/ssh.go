package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrSSH is wrapped by the errors of an ssh:// engine's transport: the ssh client is
// missing, or it could not log in or run `docker system dial-stdio` on the other side.
var ErrSSH = errors.New("ssh engine")

// sshHTTPHost is the address the API client is given for an ssh engine: requests go
// through the ssh dialer, so only its form matters.
const sshHTTPHost = "http://docker.ssh"

// sshArgs returns the ssh command line that connects to the engine at an ssh:// address
// and runs `docker system dial-stdio` there, as the Docker CLI does: the remote docker
// CLI then relays the connection to its engine's socket. The user's ssh configuration
// (keys, agent, known hosts, ProxyJump) applies; BatchMode makes a login that would
// prompt fail at once instead.
func sshArgs(addr string) ([]string, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("parse engine address %q: %w", addr, err)
	}
	if u.Scheme != "ssh" {
		return nil, fmt.Errorf("engine address %q is not ssh://", addr)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("engine address %q has no host", addr)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("engine address %q: an ssh engine address has no path (ssh://[user@]host[:port])", addr)
	}
	if _, set := u.User.Password(); set {
		return nil, fmt.Errorf("engine address %q: no passwords in ssh addresses; use a key or an agent", addr)
	}
	args := []string{"-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "-T"}
	if name := u.User.Username(); name != "" {
		args = append(args, "-l", name)
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	return append(args, "--", u.Hostname(), "docker", "system", "dial-stdio"), nil
}

// sshHostName asks ssh which host name an ssh:// engine address connects to, after the
// user's ssh configuration (a Host alias with a HostName); "" when ssh cannot say. It
// sends nothing over the network (ssh -G only evaluates the configuration).
func sshHostName(ctx context.Context, addr string) string {
	args, err := sshArgs(addr)
	if err != nil {
		return ""
	}
	// Keep the -l and -p options and the host; drop the remote command.
	var g []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-l", "-p":
			g = append(g, args[i], args[i+1])
			i++
		case "--":
			g = append(g, "-G", "--", args[i+1])
			i = len(args)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", g...).Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(line, "hostname "); ok {
			return strings.TrimSpace(h)
		}
	}
	return ""
}

// sshMuxPersist is how long ssh's shared connection outlives its last user.
const sshMuxPersist = "30s"

var (
	muxOnce sync.Once
	muxDir  string
)

// sshMuxDir returns a directory only this user can enter, for ssh's control sockets
// ("" when none can be made: then each connection logs in anew).
func sshMuxDir() string {
	muxOnce.Do(func() {
		base, err := os.UserCacheDir()
		if err != nil {
			return
		}
		d := filepath.Join(base, "containertest", "ssh")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return
		}
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			if os.Chmod(d, 0o700) != nil {
				return
			}
		}
		// A control socket path is limited to about 100 bytes; the name adds 21.
		if len(d) > 60 {
			return
		}
		muxDir = d
	})
	return muxDir
}

// withMux adds ssh's connection sharing to args: the API client opens a connection per
// concurrent request and one per exec or attach, and without sharing each would be a
// new ssh login (a fraction of a second each, seconds under load). The first ssh
// becomes the master, which stays in the background until sshMuxPersist after the last
// connection ends.
//
// The control socket is named after the engine address as given (not ssh's %C, which
// covers only user, host and port): two addresses, such as two Host aliases with other
// keys, never share a login.
func withMux(args []string, dir, addr string) []string {
	if dir == "" {
		return args
	}
	sum := sha256.Sum256([]byte(addr))
	for i, a := range args {
		if a == "--" {
			mux := []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + filepath.Join(dir, hex.EncodeToString(sum[:10])), "-o", "ControlPersist=" + sshMuxPersist}
			return append(append(append([]string{}, args[:i]...), mux...), args[i:]...)
		}
	}
	return args
}

// dialSSH starts ssh for the engine at addr and returns its standard input and output
// as one connection.
func dialSSH(ctx context.Context, addr string) (net.Conn, error) {
	args, err := sshArgs(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSSH, err)
	}
	args = withMux(args, sshMuxDir(), addr)
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return nil, fmt.Errorf("%w: no ssh client (Debian: openssh-client): %w", ErrSSH, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Pipes of our own rather than cmd.StdinPipe/StdoutPipe: Wait closes those as soon
	// as the process exits, under a reader that has not yet read all it wrote.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSSH, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("%w: %w", ErrSSH, err)
	}
	// Standard error too: a master that ssh leaves in the background keeps it open, and
	// Wait would wait for that.
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("%w: %w", ErrSSH, err)
	}
	cmd := exec.Command(bin, args...)
	c := &sshConn{addr: addr, cmd: cmd, stdin: inW, stdout: outR, done: make(chan struct{}), stderrDone: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	inR.Close() // the child holds its own copies now
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("%w: start ssh: %w", ErrSSH, err)
	}
	go func() {
		io.Copy(&c.stderr, errR)
		errR.Close()
		close(c.stderrDone)
	}()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// sshConn is an ssh process's stdio as a net.Conn.
type sshConn struct {
	addr          string
	cmd           *exec.Cmd
	stdin         *os.File
	stdout        *os.File
	stderr        lockedBuffer
	done          chan struct{}
	stderrDone    chan struct{} // closed when all ssh wrote to stderr is read
	waitErr       error
	closeOnce     sync.Once
	closeWriteErr error
}

func (c *sshConn) Read(b []byte) (int, error) {
	n, err := c.stdout.Read(b)
	if err == io.EOF {
		// ssh ended: when it failed, say why in its own words.
		select {
		case <-c.done:
		case <-time.After(time.Second):
		}
		// A master that ssh left in the background may hold stderr open: wait briefly.
		select {
		case <-c.stderrDone:
		case <-time.After(200 * time.Millisecond):
		}
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" && c.exitedBadly() {
			return n, fmt.Errorf("%w: ssh to %s: %s", ErrSSH, c.addr, msg)
		}
	}
	return n, err
}

func (c *sshConn) exitedBadly() bool {
	select {
	case <-c.done:
		return c.waitErr != nil
	default:
		return false
	}
}

func (c *sshConn) Write(b []byte) (int, error) {
	n, err := c.stdin.Write(b)
	if err != nil {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			return n, fmt.Errorf("%w: ssh to %s: %s: %w", ErrSSH, c.addr, msg, err)
		}
	}
	return n, err
}

// CloseWrite ends the stream towards the engine, as a hijacked exec or attach with
// standard input needs.
func (c *sshConn) CloseWrite() error { return c.stdin.Close() }

// Close ends the ssh process and waits for it.
func (c *sshConn) Close() error {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		select {
		case <-c.done:
		case <-time.After(100 * time.Millisecond):
			c.cmd.Process.Kill()
			<-c.done
		}
		c.stdout.Close()
	})
	return nil
}

func (c *sshConn) LocalAddr() net.Addr  { return sshAddr("local") }
func (c *sshConn) RemoteAddr() net.Addr { return sshAddr(c.addr) }

// Deadlines are not supported on a pipe to a process; the API client bounds its calls
// with contexts instead.
func (c *sshConn) SetDeadline(time.Time) error      { return nil }
func (c *sshConn) SetReadDeadline(time.Time) error  { return nil }
func (c *sshConn) SetWriteDeadline(time.Time) error { return nil }

type sshAddr string

func (a sshAddr) Network() string { return "ssh" }
func (a sshAddr) String() string  { return string(a) }

// lockedBuffer is a bytes.Buffer safe for the ssh process's writer and our readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil // keep the start: that is where ssh says what went wrong
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
