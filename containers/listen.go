package containers

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	mbits "math/bits"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containertest/containertest/internal/waitwire"
)

// listeners reports what listens on the TCP port ("5432/tcp"), read from the socket
// table of the container's network namespace (/proc/PID/net/tcp and tcp6 of its main
// process), and which of those sockets the published port reaches. wait.ForPort and
// wait.ForHTTP use it (see waitwire.Listening).
func (c *Container) listeners(port string) waitwire.Listeners {
	p, err := normalizePort(port)
	if err != nil || !strings.HasSuffix(p, "/tcp") {
		return waitwire.Listeners{}
	}
	num, _ := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
	c.mu.Lock()
	pid, hostNet, exited := c.pid, c.hostNet, c.status.Exited
	c.mu.Unlock()
	if c.eng.Remote {
		return waitwire.Listeners{}
	}
	if pid <= 0 {
		// A container whose process exited listens on nothing: that is known, and
		// must not send a wait to time the engine's proxy instead.
		return waitwire.Listeners{Known: exited}
	}
	proc := "/proc/" + strconv.Itoa(pid)
	// The pid is the engine's view; make sure this process sees the same one, and that
	// it is still the container's (a pid can be reused once the container stops).
	cg, err := os.ReadFile(proc + "/cgroup")
	if err != nil || !bytes.Contains(cg, []byte(c.id)) {
		return waitwire.Listeners{}
	}
	var addrs []netip.Addr
	for _, f := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(proc + f)
		if err != nil {
			return waitwire.Listeners{}
		}
		addrs = append(addrs, listenAddrs(b, num)...)
	}
	var reaches func(netip.Addr) bool
	if hostNet {
		reaches = hostReaches(c.Host())
	} else {
		routes, _ := os.ReadFile(proc + "/net/route")
		reaches = forwardReaches(routes)
	}
	return judgeListeners(addrs, reaches)
}

// judgeListeners sorts the addresses of listening sockets into those the published port
// reaches (wildcards always) and the others.
func judgeListeners(addrs []netip.Addr, reaches func(netip.Addr) bool) waitwire.Listeners {
	l := waitwire.Listeners{Known: true}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.IsUnspecified() || reaches(a):
			l.Reachable = true
		case !slices.Contains(l.Elsewhere, a.String()):
			l.Elsewhere = append(l.Elsewhere, a.String())
		}
	}
	return l
}

// hostReaches is, for a container on the host's network, which listening addresses a
// connection to host (the address Endpoint names) reaches.
func hostReaches(host string) func(netip.Addr) bool {
	h, err := netip.ParseAddr(host)
	if err != nil {
		return func(netip.Addr) bool { return true } // a host name: cannot tell
	}
	return func(a netip.Addr) bool { return a == h.Unmap() }
}

// forwardReaches is, for a container on its own network namespace, which listening
// addresses the engine forwards published ports to, judged from the namespace's IPv4
// routing table (/proc/PID/net/route): the engine publishes ports through the network
// that gives the container its default route, so they reach the container's address
// on the subnet of that interface (the default route of the lowest metric). Loopback
// addresses are never reached. Without a default route, or with several of the same
// lowest metric on different interfaces (podman gives each network one), it cannot
// tell, and every address but loopback counts.
func forwardReaches(routes []byte) func(netip.Addr) bool {
	type route struct {
		iface string
		dst   netip.Prefix
	}
	var rs []route
	gw, gwMetric, gwTied := "", 0, false
	sc := bufio.NewScanner(bytes.NewReader(routes))
	sc.Scan() // header
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, ok1 := procIPv4(f[1])
		mask, ok2 := procIPv4(f[7])
		if !ok1 || !ok2 {
			continue
		}
		bits := 0
		for _, b := range mask.AsSlice() {
			bits += mbits.OnesCount8(b)
		}
		if bits == 0 {
			metric, _ := strconv.Atoi(f[6])
			switch {
			case gw == "" || metric < gwMetric:
				gw, gwMetric, gwTied = f[0], metric, false
			case metric == gwMetric && f[0] != gw:
				gwTied = true
			}
			continue
		}
		if p, err := dst.Prefix(bits); err == nil {
			rs = append(rs, route{iface: f[0], dst: p})
		}
	}
	var subnets []netip.Prefix
	for _, r := range rs {
		if r.iface == gw {
			subnets = append(subnets, r.dst)
		}
	}
	if gw == "" || gwTied || len(subnets) == 0 {
		return func(a netip.Addr) bool { return !a.IsLoopback() }
	}
	return func(a netip.Addr) bool {
		return slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(a) })
	}
}

// listenAddrs returns the local addresses of the sockets in state LISTEN (0A) on the
// local port in a /proc/net/tcp or tcp6 table.
func listenAddrs(table []byte, port int) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(n) != port {
			continue
		}
		var a netip.Addr
		switch len(hexAddr) {
		case 8:
			a, ok = procIPv4(hexAddr)
		case 32:
			a, ok = procIPv6(hexAddr)
		default:
			ok = false
		}
		if ok {
			out = append(out, a)
		}
	}
	return out
}

// procIPv4 parses an IPv4 address as /proc/net prints it: the 32-bit word of the
// address in network order, printed in the host's byte order.
func procIPv4(h string) (netip.Addr, bool) {
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 8 {
		return netip.Addr{}, false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(n))
	return netip.AddrFrom4(b), true
}

// procIPv6 parses an IPv6 address as /proc/net/tcp6 prints it: four 32-bit words, each
// printed in the host's byte order.
func procIPv6(h string) (netip.Addr, bool) {
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < 16; i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return netip.AddrFrom16(b), true
}
