package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

// A Proxy is a unix socket in front of the engine's socket that a test can cut and
// restore, to show what the framework does when its engine connection dies. Point a
// process at it with DOCKER_HOST=unix://<Path>.
type Proxy struct {
	path, upstream string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]*link // client side of each live connection
	cuts   int
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on the unix socket path and forwards every connection to the unix
// socket upstream (the engine's). Close stops it.
func NewProxy(path, upstream string) (*Proxy, error) {
	p := &Proxy{path: path, upstream: upstream, conns: map[net.Conn]*link{}}
	if err := p.listen(); err != nil {
		return nil, err
	}
	return p, nil
}

// Path is the proxy's socket.
func (p *Proxy) Path() string { return p.path }

func (p *Proxy) listen() error {
	_ = os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w", p.path, err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			c.Close()
			continue
		}
		st := &link{}
		p.conns[c] = st
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, st)
	}
}

// A link is one client connection's state: its upstream connection and the request
// line of the last request sent on it.
type link struct {
	up  net.Conn
	req string
}

func (p *Proxy) serve(c net.Conn, st *link) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	up, err := (&net.Dialer{}).DialContext(context.Background(), "unix", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	if _, live := p.conns[c]; !live { // cut meanwhile
		p.mu.Unlock()
		return
	}
	st.up = up
	p.mu.Unlock()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		// Requests are parsed, so that DropEvents can tell which connection carries the
		// event stream even when the client reuses a connection for it; after an
		// upgrade (exec, attach) the rest is copied as it is.
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			p.mu.Lock()
			st.req = req.Method + " " + req.URL.Path
			p.mu.Unlock()
			if err := req.Write(up); err != nil {
				break
			}
			if req.Header.Get("Upgrade") != "" {
				_, _ = io.Copy(up, br)
				break
			}
		}
		if uc, ok := up.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	up.Close()
	<-sent
}

// Cut closes every live connection and stops accepting: the engine is gone for every
// client of the proxy until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c, st := range p.conns {
		c.Close()
		if st.up != nil {
			st.up.Close()
		}
	}
	p.cuts++
}

// DropEvents closes only the connections that carry the engine's event stream, as a
// load balancer or an engine restart of the API server might; it reports how many.
func (p *Proxy) DropEvents() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c, st := range p.conns {
		if isEvents(st.req) {
			c.Close()
			if st.up != nil {
				st.up.Close()
			}
			n++
		}
	}
	return n
}

// EventStreams counts the live connections that carry the event stream.
func (p *Proxy) EventStreams() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, st := range p.conns {
		if isEvents(st.req) {
			n++
		}
	}
	return n
}

// isEvents reports whether req ("GET /v1.41/events") asks for the event stream.
func isEvents(req string) bool {
	return strings.HasPrefix(req, "GET ") && strings.HasSuffix(req, "/events")
}

// Restore accepts connections again after Cut.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: closed")
	}
	if p.ln != nil {
		return nil
	}
	return p.listen()
}

// Close cuts every connection, removes the socket and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.Cut()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	_ = os.Remove(p.path)
	return nil
}
