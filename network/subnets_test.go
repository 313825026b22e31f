package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestSubnetPoolBlocks(t *testing.T) {
	p := newSubnetPool(fallbackRanges, 24, 0)
	if got, want := p.size(), 1<<16+1<<12+1<<8; got != want {
		t.Fatalf("size = %d; want %d", got, want)
	}
	for i, want := range map[int]string{
		0:             "10.0.0.0/24",
		1:             "10.0.1.0/24",
		256:           "10.1.0.0/24",
		1<<16 - 1:     "10.255.255.0/24",
		1 << 16:       "172.16.0.0/24",
		1<<16 + 1<<12: "192.168.0.0/24",
		p.size() - 1:  "192.168.255.0/24",
	} {
		if got := p.block(i).String(); got != want {
			t.Errorf("block(%d) = %s; want %s", i, got, want)
		}
	}
}

func TestSubnetPoolReserve(t *testing.T) {
	ranges := mustPrefixes(t, "10.9.0.0/22") // four /24s
	p := newSubnetPool(ranges, 24, 1)
	used := mustPrefixes(t, "10.9.2.0/23", "0.0.0.0/32")

	s, ok := p.reserve(used)
	if !ok || s.String() != "10.9.1.0/24" {
		t.Fatalf("reserve = %v, %v; want 10.9.1.0/24 (start at block 1)", s, ok)
	}
	// 10.9.2-3 are used, 10.9.1 is reserved: wrap around to 10.9.0.
	s, ok = p.reserve(used)
	if !ok || s.String() != "10.9.0.0/24" {
		t.Fatalf("second reserve = %v, %v; want 10.9.0.0/24", s, ok)
	}
	if s, ok := p.reserve(used); ok {
		t.Fatalf("third reserve = %v; want none left", s)
	}
	p.release(netip.MustParsePrefix("10.9.1.0/24"))
	p.release(netip.Prefix{}) // ignored
	s, ok = p.reserve(used)
	if !ok || s.String() != "10.9.1.0/24" {
		t.Fatalf("reserve after release = %v, %v; want 10.9.1.0/24", s, ok)
	}
	p.release(s)
	p.refuse(s)
	if s, ok := p.reserve(used); ok {
		t.Fatalf("reserve of a refused subnet = %v; want none left", s)
	}
	// A wide route over the whole range leaves nothing.
	q := newSubnetPool(ranges, 24, 0)
	if s, ok := q.reserve(mustPrefixes(t, "10.0.0.0/8")); ok {
		t.Errorf("reserve under a covering route = %v; want none", s)
	}
}

func TestSubnetPoolReserveIsRaceFree(t *testing.T) {
	p := newSubnetPool(mustPrefixes(t, "10.9.0.0/16"), 24, 0)
	got := make(chan netip.Prefix, 256)
	for range 256 {
		go func() {
			s, ok := p.reserve(nil)
			if !ok {
				s = netip.Prefix{}
			}
			got <- s
		}()
	}
	seen := map[netip.Prefix]bool{}
	for range 256 {
		s := <-got
		if !s.IsValid() || seen[s] {
			t.Fatalf("reserve handed out %v twice or not at all", s)
		}
		seen[s] = true
	}
}

func TestExhaustedRecently(t *testing.T) {
	p := newSubnetPool(fallbackRanges, 24, 0)
	if p.exhaustedRecently() {
		t.Fatal("exhaustedRecently before markExhausted")
	}
	p.markExhausted()
	if !p.exhaustedRecently() {
		t.Fatal("not exhaustedRecently after markExhausted")
	}
}

func routeHex(s string) string {
	a := netip.MustParseAddr(s).As4()
	return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(a[:]))
}

func TestParseProcRoute(t *testing.T) {
	text := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		fmt.Sprintf("eth0\t%s\t%s\t0003\t0\t0\t0\t%s\t0\t0\t0\n", routeHex("0.0.0.0"), routeHex("192.0.2.1"), routeHex("0.0.0.0")) +
		fmt.Sprintf("docker0\t%s\t00000000\t0001\t0\t0\t0\t%s\t0\t0\t0\n", routeHex("172.17.0.0"), routeHex("255.255.0.0")) +
		fmt.Sprintf("eth0\t%s\t00000000\t0001\t0\t0\t0\t%s\t0\t0\t0\n", routeHex("192.0.2.0"), routeHex("255.255.255.0")) +
		"garbage line\n"
	got := parseProcRoute(strings.NewReader(text))
	want := mustPrefixes(t, "172.17.0.0/16", "192.0.2.0/24")
	if !slices.Equal(got, want) {
		t.Errorf("parseProcRoute = %v; want %v (default route left out)", got, want)
	}
}

func TestParseResolvConf(t *testing.T) {
	got := parseResolvConf(strings.NewReader("# comment\nnameserver 10.255.255.53\nnameserver fd00::1\nsearch example.org\nnameserver\n"))
	want := mustPrefixes(t, "10.255.255.53/32")
	if !slices.Equal(got, want) {
		t.Errorf("parseResolvConf = %v; want %v", got, want)
	}
}

func TestHostSubnetsIncludesLoopback(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, p := range hostSubnets() {
		if p.Contains(lo) {
			return
		}
	}
	t.Errorf("hostSubnets() = %v; want the loopback network among them", hostSubnets())
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		msg                      string
		exhausted, overlap, used bool
	}{
		{msg: "Error response from daemon: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network", exhausted: true},
		{msg: "Error response from daemon: all predefined address pools have been fully subnetted", exhausted: true},
		{msg: "Error response from daemon: Pool overlaps with other one on this address space", overlap: true},
		{msg: "Error response from daemon: networks have overlapping IPv4", overlap: true},
		{msg: "Error response from daemon: error while removing network: network x id 123 has active endpoints", used: true},
		{msg: "Error response from daemon: plugin \"no-such-driver\" not found"},
	} {
		err := fmt.Errorf("%s", tc.msg)
		if isPoolExhausted(err) != tc.exhausted || isOverlap(err) != tc.overlap || isInUse(err) != tc.used {
			t.Errorf("%q: exhausted %v overlap %v in use %v; want %v %v %v", tc.msg,
				isPoolExhausted(err), isOverlap(err), isInUse(err), tc.exhausted, tc.overlap, tc.used)
		}
	}
}
