package containers

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Listening reports whether a socket in the container listens on the TCP port
// ("5432/tcp"), read from the socket table of the container's network namespace
// (/proc/PID/net/tcp and tcp6 of its main process). known is false when that table
// cannot be read from here: a remote engine, an engine in a VM, another pid namespace.
// It sends no network traffic; wait.ForPort uses it (see wait.ListenTarget).
func (c *Container) Listening(port string) (listening, known bool) {
	p, err := normalizePort(port)
	if err != nil || !strings.HasSuffix(p, "/tcp") {
		return false, false
	}
	num, _ := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	if pid <= 0 || c.eng.Remote {
		return false, false
	}
	proc := "/proc/" + strconv.Itoa(pid)
	// The pid is the engine's view; make sure this process sees the same one, and that
	// it is still the container's (a pid can be reused once the container stops).
	cg, err := os.ReadFile(proc + "/cgroup")
	if err != nil || !bytes.Contains(cg, []byte(c.id)) {
		return false, false
	}
	for _, f := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(proc + f)
		if err != nil {
			return false, false
		}
		if listensOn(b, num) {
			return true, true
		}
	}
	return false, true
}

// listensOn reports whether a /proc/net/tcp table has a socket in state LISTEN (0A) on
// the local port.
func listensOn(table []byte, port int) bool {
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(n) == port {
			return true
		}
	}
	return false
}
