package wait_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

// fakeTarget is an in-memory wait.Target: a log fed in chunks, a status stream set by
// the test, ports that point at local listeners, and a scripted Exec.
type fakeTarget struct {
	name  string
	ports map[string]int
	log   fakeLog
	tail  string

	mu      sync.Mutex
	status  waitwire.Status
	changed chan struct{}

	exec      func(ctx context.Context, cmd []string) (wait.ExecResult, error)
	healthLog string

	follows atomic.Int32
}

func newFake() *fakeTarget {
	return &fakeTarget{
		name:    "fake-1",
		ports:   map[string]int{},
		changed: make(chan struct{}),
		status:  waitwire.Status{Running: true},
	}
}

func (f *fakeTarget) Name() string { return f.name }
func (f *fakeTarget) Host() string { return "127.0.0.1" }

func (f *fakeTarget) LookupPort(port string) (int, error) {
	p, ok := f.ports[port]
	if !ok {
		return 0, fmt.Errorf("port %s is not published", port)
	}
	return p, nil
}

func (f *fakeTarget) FollowLogs(ctx context.Context) (io.ReadCloser, error) {
	f.follows.Add(1)
	return f.log.reader(), nil
}

func (f *fakeTarget) LogTail(ctx context.Context, n int) (string, error) { return f.tail, nil }

func (f *fakeTarget) Exec(ctx context.Context, cmd ...string) (wait.ExecResult, error) {
	if f.exec == nil {
		return wait.ExecResult{}, errors.New("exec: not supported by this target")
	}
	return f.exec(ctx, cmd)
}

func (f *fakeTarget) Status() waitwire.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeTarget) StatusChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeTarget) HealthLog(ctx context.Context) (string, error) { return f.healthLog, nil }

// setStatus changes the status and wakes those waiting on StatusChanged.
func (f *fakeTarget) setStatus(change func(*waitwire.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.status)
	close(f.changed)
	f.changed = make(chan struct{})
}

// exit makes the container's process exit with code.
func (f *fakeTarget) exit(code int, oom bool) {
	f.setStatus(func(s *waitwire.Status) {
		s.Running, s.Exited, s.ExitCode, s.OOMKilled = false, true, code, oom
	})
}

// listerTarget is a fakeTarget that lists its published ports.
type listerTarget struct {
	*fakeTarget
	exposed []string
}

func (l listerTarget) ExposedPorts() []string { return l.exposed }

// listenTarget is a fakeTarget that knows what listens on its container ports.
type listenTarget struct {
	*fakeTarget
	listeners map[string]waitwire.Listeners // port -> listeners; a missing port is unknown
}

var _ waitwire.Listening = listenTarget{}

func (l listenTarget) Listeners(port string) waitwire.Listeners {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listeners[port]
}

// set changes what listens on port.
func (l listenTarget) set(port string, ls waitwire.Listeners) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listeners[port] = ls
}

// Listeners for listenTarget.
var (
	listening    = waitwire.Listeners{Known: true, Reachable: true}
	notListening = waitwire.Listeners{Known: true}
	loopbackOnly = waitwire.Listeners{Known: true, Elsewhere: []string{"127.0.0.1"}}
)

// fakeLog is a log that grows by chunks. Each reader replays it from the start and then
// blocks for more; like a stream whose context is not watched, only Close or the end of
// the log stops it.
type fakeLog struct {
	mu     sync.Mutex
	chunks [][]byte
	ended  bool
	grown  chan struct{}
	read   atomic.Int64 // bytes handed to readers, all readers together
}

// write appends chunks to the log, one Read each.
func (l *fakeLog) write(chunks ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range chunks {
		l.chunks = append(l.chunks, []byte(c))
	}
	l.wake()
}

// end ends the log: readers get io.EOF after the last chunk.
func (l *fakeLog) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	l.wake()
}

func (l *fakeLog) wake() {
	if l.grown != nil {
		close(l.grown)
	}
	l.grown = make(chan struct{})
}

func (l *fakeLog) reader() *fakeReader {
	return &fakeReader{log: l, closed: make(chan struct{})}
}

type fakeReader struct {
	log       *fakeLog
	next, off int
	closed    chan struct{}
	closeOnce sync.Once
}

func (r *fakeReader) Read(p []byte) (int, error) {
	for {
		l := r.log
		l.mu.Lock()
		select {
		case <-r.closed:
			l.mu.Unlock()
			return 0, errors.New("read on closed log stream")
		default:
		}
		if r.next < len(l.chunks) {
			c := l.chunks[r.next][r.off:]
			n := copy(p, c)
			r.off += n
			if r.off == len(l.chunks[r.next]) {
				r.next, r.off = r.next+1, 0
			}
			l.mu.Unlock()
			l.read.Add(int64(n))
			return n, nil
		}
		if l.ended {
			l.mu.Unlock()
			return 0, io.EOF
		}
		if l.grown == nil {
			l.grown = make(chan struct{})
		}
		grown := l.grown
		l.mu.Unlock()
		select {
		case <-grown:
		case <-r.closed:
		}
	}
}

func (r *fakeReader) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}
