package enginetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A TLSProxy accepts mutual-TLS connections and forwards each, byte for byte, to an
// engine's plain socket: in front of the local engine it behaves as a remote dockerd
// started with --tlsverify does, hijacked streams (attach, exec) included.
type TLSProxy struct {
	l        net.Listener
	cfg      *tls.Config
	upstream func(ctx context.Context) (net.Conn, error)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	// Log, when set before Serve, receives one line per refused connection.
	Log func(format string, args ...any)
}

// NewTLSProxy returns a proxy that serves cfg on l and forwards to the unix socket at
// upstream (a path such as /var/run/docker.sock).
func NewTLSProxy(l net.Listener, cfg *tls.Config, upstream string) *TLSProxy {
	ctx, cancel := context.WithCancel(context.Background())
	var d net.Dialer
	return &TLSProxy{
		l:   l,
		cfg: cfg,
		upstream: func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, "unix", upstream)
		},
		ctx:    ctx,
		cancel: cancel,
		conns:  map[net.Conn]struct{}{},
	}
}

// Addr is the address the proxy listens on.
func (p *TLSProxy) Addr() net.Addr { return p.l.Addr() }

// Serve accepts connections until Close; it returns nil after Close.
func (p *TLSProxy) Serve() error {
	for {
		c, err := p.l.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.handle(c)
		}()
	}
}

// Close stops accepting, ends every open connection and waits for their goroutines.
func (p *TLSProxy) Close() error {
	p.cancel()
	err := p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *TLSProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *TLSProxy) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}

// plainHTTPReply is what a Go HTTPS server, dockerd among them, answers a client that
// speaks plain HTTP to it.
const plainHTTPReply = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

func (p *TLSProxy) handle(raw net.Conn) {
	defer raw.Close()
	br := bufio.NewReader(raw)
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	if first[0] != 0x16 { // not a TLS handshake record
		p.logf("refused %s: plain text on a TLS port", raw.RemoteAddr())
		io.WriteString(raw, plainHTTPReply)
		return
	}
	tc := tls.Server(&peekedConn{Conn: raw, r: br}, p.cfg)
	hctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		p.logf("refused %s: %v", raw.RemoteAddr(), err)
		return
	}
	raw.SetReadDeadline(time.Time{})
	up, err := p.upstream(p.ctx)
	if err != nil {
		p.logf("upstream for %s: %v", raw.RemoteAddr(), err)
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, tc)
		// The client finished sending: pass the half-close on, as a hijacked stream
		// (exec with stdin, attach) needs to see EOF.
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(tc, up)
		tc.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// peekedConn reads through the buffered reader that peeked at the first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// ErrNotLoopback is returned by Listen for an address that is not on a loopback interface.
var ErrNotLoopback = errors.New("address is not a loopback address")

// Listen listens on addr (host:port) after checking that host is a loopback address:
// the proxy gives whoever holds the client certificate the whole engine.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen %s: %w", addr, ErrNotLoopback)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}
