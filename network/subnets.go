package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containertest/containertest/internal/engine"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
)

// When the engine's default address pools are used up, Create carves subnets of
// fallbackBits out of fallbackRanges (RFC 1918 private space), skipping every subnet
// that an existing network of the engine uses and, for a local engine, every route,
// interface address and name server of this machine.
var fallbackRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

const (
	fallbackBits = 24
	// fallbackAttempts bounds the retries when another process takes the subnet we
	// picked between listing the networks and creating ours.
	fallbackAttempts = 10
	// exhaustedTTL is how long, after the engine said its default pools are used up,
	// Create goes straight to an explicit subnet instead of asking the engine first.
	exhaustedTTL = 10 * time.Second
)

// pools is the process's subnet bookkeeping.
var pools = newSubnetPool(fallbackRanges, fallbackBits, rand.IntN(1<<(fallbackBits-8)))

// A subnetPool hands out fallback subnets. Subnets it handed out stay reserved in this
// process until the network is removed, so that goroutines racing to create networks
// do not pick the same one; other processes are raced by starting at a random block
// and retrying on overlap.
type subnetPool struct {
	ranges []netip.Prefix
	bits   int

	mu sync.Mutex
	// reserved subnets were handed out and their networks not yet removed.
	reserved map[netip.Prefix]bool
	// refused subnets were rejected by the engine as overlapping something that the
	// network list did not show; they are not tried again.
	refused     map[netip.Prefix]bool
	next        int
	exhaustedAt time.Time
}

func newSubnetPool(ranges []netip.Prefix, bits, start int) *subnetPool {
	return &subnetPool{
		ranges:   ranges,
		bits:     bits,
		reserved: map[netip.Prefix]bool{},
		refused:  map[netip.Prefix]bool{},
		next:     start,
	}
}

func (p *subnetPool) markExhausted() {
	p.mu.Lock()
	p.exhaustedAt = time.Now()
	p.mu.Unlock()
}

func (p *subnetPool) exhaustedRecently() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exhaustedAt.IsZero() && time.Since(p.exhaustedAt) < exhaustedTTL
}

// size is the number of candidate subnets over all ranges.
func (p *subnetPool) size() int {
	n := 0
	for _, r := range p.ranges {
		n += 1 << (p.bits - r.Bits())
	}
	return n
}

// block returns candidate i, counting through the ranges in order.
func (p *subnetPool) block(i int) netip.Prefix {
	for _, r := range p.ranges {
		n := 1 << (p.bits - r.Bits())
		if i < n {
			a := r.Addr().As4()
			v := binary.BigEndian.Uint32(a[:]) + uint32(i)<<(32-p.bits)
			binary.BigEndian.PutUint32(a[:], v)
			return netip.PrefixFrom(netip.AddrFrom4(a), p.bits)
		}
		i -= n
	}
	panic("network: subnet block out of range")
}

// reserve hands out the first candidate, from where the last search stopped, that
// overlaps none of used and is neither reserved nor refused.
func (p *subnetPool) reserve(used []netip.Prefix) (netip.Prefix, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := p.size()
	for k := range size {
		i := (p.next + k) % size
		s := p.block(i)
		if p.reserved[s] || p.refused[s] || overlapsAny(s, used) {
			continue
		}
		p.reserved[s] = true
		p.next = (i + 1) % size
		return s, true
	}
	return netip.Prefix{}, false
}

// release returns s to the pool; an invalid prefix is ignored.
func (p *subnetPool) release(s netip.Prefix) {
	if !s.IsValid() {
		return
	}
	p.mu.Lock()
	delete(p.reserved, s)
	p.mu.Unlock()
}

// refuse marks s as unusable for the rest of the process.
func (p *subnetPool) refuse(s netip.Prefix) {
	p.mu.Lock()
	p.refused[s] = true
	p.mu.Unlock()
}

func overlapsAny(s netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(s) {
			return true
		}
	}
	return false
}

// createWithFreeSubnet creates the network with an explicit subnet that no existing
// network uses, retrying when another process takes it first.
func createWithFreeSubnet(ctx context.Context, e *engine.Engine, name string, o dnetwork.CreateOptions) (string, netip.Prefix, error) {
	var last error
	for range fallbackAttempts {
		used, err := usedSubnets(ctx, e)
		if err != nil {
			return "", netip.Prefix{}, err
		}
		s, ok := pools.reserve(used)
		if !ok {
			return "", netip.Prefix{}, fmt.Errorf("find free subnet: every /%d of %v is in use", fallbackBits, fallbackRanges)
		}
		o.IPAM = &dnetwork.IPAM{Config: []dnetwork.IPAMConfig{{Subnet: s.String()}}}
		o.Labels = maps.Clone(o.Labels)
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[engine.LabelSubnetPicked] = "true"
		resp, err := e.Client.NetworkCreate(ctx, name, o)
		if err == nil {
			return resp.ID, s, nil
		}
		pools.release(s)
		if !isOverlap(err) {
			return "", netip.Prefix{}, fmt.Errorf("with subnet %s (default address pools are used up): %w", s, err)
		}
		pools.refuse(s)
		last = err
	}
	return "", netip.Prefix{}, fmt.Errorf("find free subnet: %d subnets were taken by others first: %w", fallbackAttempts, last)
}

// usedSubnets lists the subnets a new network must not overlap: those of the engine's
// networks and, when the engine runs on this machine, this machine's routes,
// interface addresses and name servers.
func usedSubnets(ctx context.Context, e *engine.Engine) ([]netip.Prefix, error) {
	nets, err := e.Client.NetworkList(ctx, dnetwork.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		used = append(used, subnetsOf(n.IPAM)...)
	}
	if !e.Remote {
		used = append(used, hostSubnets()...)
	}
	return used, nil
}

// hostSubnets returns this machine's IPv4 routes (except default routes), interface
// networks and name servers: a bridge over any of them would hijack its traffic.
func hostSubnets() []netip.Prefix {
	var out []netip.Prefix
	if f, err := os.Open("/proc/net/route"); err == nil {
		out = append(out, parseProcRoute(f)...)
		f.Close()
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if p, ok := prefixOf(ipn); ok {
					out = append(out, p)
				}
			}
		}
	}
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		out = append(out, parseResolvConf(f)...)
		f.Close()
	}
	return out
}

func prefixOf(ipn *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ipn.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := ipn.Mask.Size()
	if a.Is4() && ones > 32 {
		ones -= 96
	}
	p, err := a.Prefix(ones)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
}

// parseProcRoute reads Linux's /proc/net/route: destination and mask are hexadecimal
// numbers in the host's byte order. Default routes (mask 0) are left out.
func parseProcRoute(r io.Reader) []netip.Prefix {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		var d, m [4]byte
		binary.NativeEndian.PutUint32(d[:], uint32(dst))
		binary.NativeEndian.PutUint32(m[:], uint32(mask))
		ones := bits.OnesCount32(binary.BigEndian.Uint32(m[:]))
		p, err := netip.AddrFrom4(d).Prefix(ones)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseResolvConf returns the IPv4 name servers of a resolv.conf as /32 prefixes.
func parseResolvConf(r io.Reader) []netip.Prefix {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || !a.Is4() {
			continue
		}
		out = append(out, netip.PrefixFrom(a, 32))
	}
	return out
}
