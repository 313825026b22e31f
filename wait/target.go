package wait

import (
	"context"
	"errors"
	"io"

	"github.com/containertest/containertest/internal/waitwire"
)

// ErrNotReady is wrapped by every error that means a container did not become ready:
// a strategy timed out, or the container died while a strategy waited.
var ErrNotReady = errors.New("container not ready")

// ErrExited is wrapped, beside ErrNotReady, when a wait ended because the container's
// process exited: it died while a strategy waited, or ForExit saw another exit code.
var ErrExited = errors.New("container exited")

// A Strategy decides when a container is ready.
type Strategy interface {
	// WaitUntilReady blocks until the target is ready, ctx is done, or the strategy
	// knows the target will never be ready.
	WaitUntilReady(ctx context.Context, t Target) error
}

// A Target is what strategies wait on: the container as a strategy may use it. A
// custom strategy is written against these five methods (see the Example of ForFunc),
// and a test of one can implement them with a fake. *containers.Container gives
// strategies more than this (its state from the engine's events, its socket table, its
// log tail), which the strategies of this package use when they find it; a fake
// without it gets their plain behaviour, and ForExit and ForHealthy, which need the
// state, fail at once.
type Target interface {
	// Name is the container's name, for messages.
	Name() string
	// Host is the host at which published ports are reached (normally "127.0.0.1").
	Host() string
	// LookupPort returns the host port that a container port ("8080/tcp", "53/udp";
	// "8080" means tcp) is published on, or an error when it is not published.
	LookupPort(port string) (int, error)
	// FollowLogs streams the container's stdout and stderr, demultiplexed, from the
	// start of the container's current run (a restart begins a new one), and keeps
	// following until ctx is done or the container stops; then the stream ends, with
	// every line the run wrote.
	FollowLogs(ctx context.Context) (io.ReadCloser, error)
	// Exec runs cmd in the container and returns its exit code and output.
	Exec(ctx context.Context, cmd ...string) (ExecResult, error)
}

// ExecResult is the outcome of a command run in a container.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// status is a container's state as known from the engine's events.
type status = waitwire.Status

// listeners is what the target knows of the sockets listening on a port.
type listeners = waitwire.Listeners

// framework returns what a framework container tells strategies beyond Target (see
// waitwire.Enrich); any other target as it is.
func framework(t Target) any {
	if waitwire.Enrich != nil {
		return waitwire.Enrich(t)
	}
	return t
}

// observed returns t's view of the engine's events, or, for a target without one, a
// state that never changes: such a target is never seen to exit.
func observed(t Target) waitwire.Observed {
	if o, ok := framework(t).(waitwire.Observed); ok {
		return o
	}
	return unobserved{}
}

// isObserved reports whether t follows the engine's events.
func isObserved(t Target) bool {
	_, ok := framework(t).(waitwire.Observed)
	return ok
}

type unobserved struct{}

func (unobserved) Status() status                 { return status{} }
func (unobserved) StatusChanged() <-chan struct{} { return nil }
