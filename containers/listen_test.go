package containers

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/containertest/containertest/internal/waitwire"
)

// Tables as a container's /proc/PID/net shows them (on a little-endian host).
const (
	tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
   3: 020011AC:1F92 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   4: 020012AC:1F93 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
`
	tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F94 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F95 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8 1 0000000000000000 100 0 0 10 0
`
	// Two networks: eth0 on 172.17.0.0/16 carries the default route, eth1 is on
	// 172.18.0.0/16.
	routeTable = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"eth1\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestListenAddrs(t *testing.T) {
	v4, v6 := []byte(tcpTable), []byte(tcp6Table)
	assert.Equal(t, addrs("0.0.0.0"), listenAddrs(v4, 8080), "0x1F90 in state 0A listens")
	assert.Empty(t, listenAddrs(v4, 80), "port 80 is an established connection, not a listener")
	assert.Empty(t, listenAddrs(v4, 5432))
	assert.Empty(t, listenAddrs(nil, 8080))
	assert.Equal(t, addrs("127.0.0.1"), listenAddrs(v4, 8081))
	assert.Equal(t, addrs("172.17.0.2"), listenAddrs(v4, 8082))
	assert.Equal(t, addrs("::"), listenAddrs(v6, 8084))
	assert.Equal(t, addrs("::1"), listenAddrs(v6, 8081))
	assert.Equal(t, addrs("::ffff:127.0.0.1"), listenAddrs(v6, 8085))
}

func TestJudgeListeners(t *testing.T) {
	fwd := forwardReaches([]byte(routeTable))
	v4, v6 := []byte(tcpTable), []byte(tcp6Table)
	judge := func(port int) waitwire.Listeners {
		return judgeListeners(append(listenAddrs(v4, port), listenAddrs(v6, port)...), fwd)
	}
	assert.Equal(t, waitwire.Listeners{Known: true, Reachable: true}, judge(8080), "0.0.0.0")
	assert.Equal(t, waitwire.Listeners{Known: true, Reachable: true}, judge(8084), "::")
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"127.0.0.1", "::1"}}, judge(8081), "loopback only")
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"127.0.0.1"}}, judge(8085), "IPv4-mapped loopback")
	assert.Equal(t, waitwire.Listeners{Known: true, Reachable: true}, judge(8082), "the address on the default route's network")
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"172.18.0.2"}}, judge(8083), "the address on another network")
	assert.Equal(t, waitwire.Listeners{Known: true}, judge(9999), "nothing listens")

	// Without a default route the forwarded address is unknown: only loopback is out.
	none := forwardReaches(nil)
	assert.True(t, none(netip.MustParseAddr("172.18.0.2")))
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"127.0.0.1"}}, judgeListeners(addrs("127.0.0.1"), none))

	// Podman gives every network a default route of the same metric: which one carries
	// the published ports cannot be told, so no address but loopback is ruled out.
	tied := forwardReaches([]byte(podmanRoutes))
	assert.True(t, tied(netip.MustParseAddr("10.89.1.2")))
	assert.True(t, tied(netip.MustParseAddr("10.89.2.2")))
	assert.False(t, tied(netip.MustParseAddr("127.0.0.1")))
	// A lower metric decides, whichever comes first in the table.
	first := forwardReaches([]byte(strings.Replace(podmanRoutes, "0102590A	0003	0	0	100", "0102590A	0003	0	0	200", 1)))
	assert.True(t, first(netip.MustParseAddr("10.89.1.2")))
	assert.False(t, first(netip.MustParseAddr("10.89.2.2")), "eth1's default route has the higher metric")

	// On the host's network, Endpoint names the host address: a server there counts.
	host := hostReaches("127.0.0.1")
	assert.Equal(t, waitwire.Listeners{Known: true, Reachable: true}, judgeListeners(addrs("127.0.0.1"), host))
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"::1"}}, judgeListeners(addrs("::1"), host))
	assert.Equal(t, waitwire.Listeners{Known: true, Elsewhere: []string{"10.1.2.3"}}, judgeListeners(addrs("10.1.2.3"), host))
}

// The routing table of a podman container on two networks (/proc/net/route).
const podmanRoutes = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth1	00000000	0102590A	0003	0	0	100	00000000	0	0	0
eth0	00000000	0101590A	0003	0	0	100	00000000	0	0	0
eth0	0001590A	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth1	0002590A	00000000	0001	0	0	0	00FFFFFF	0	0	0
`
