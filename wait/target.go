package wait

import (
	"context"
	"errors"
	"io"
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

// A Target is what strategies wait on. *containers.Container implements it; tests of
// custom strategies may implement it with a fake.
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
	// LogTail returns the last n lines of the container's stdout and stderr.
	LogTail(ctx context.Context, n int) (string, error)
	// Exec runs cmd in the container and returns its exit code and output.
	Exec(ctx context.Context, cmd ...string) (ExecResult, error)
	// Status is the container's state as last reported by the engine's event stream.
	// It makes no API call.
	Status() Status
	// StatusChanged returns a channel that is closed at the next change of Status.
	StatusChanged() <-chan struct{}
	// HealthLog returns the output of the most recent health probe ("" when none ran),
	// asking the engine.
	HealthLog(ctx context.Context) (string, error)
}

// ExecResult is the outcome of a command run in a container.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Status is a container's state as known from the engine's events.
type Status struct {
	// Running is true between the start and die events.
	Running bool
	// Exited is true once the process has ended (die event); ExitCode is then valid.
	Exited   bool
	ExitCode int
	// OOMKilled is true when the engine reported an out-of-memory kill.
	OOMKilled bool
	// HasHealthCheck is true when the container has a Docker health check.
	HasHealthCheck bool
	// Health is "", "starting", "healthy" or "unhealthy".
	Health string
}

// A PortLister is a Target that knows which container ports it publishes. It is
// optional: ForHTTP without a Port uses the first port a PortLister lists.
type PortLister interface {
	// ExposedPorts lists the published container ports ("8080/tcp") in the order the
	// spec exposed them.
	ExposedPorts() []string
}

// A ListenTarget is a Target that can tell, without any network traffic, whether a
// process in the container listens on a TCP port where its published port reaches it:
// on a local Linux engine, from the socket table of the container's network namespace.
// It is optional. ForPort uses it to know exactly when the port listens (without it,
// ForPort must infer that from how long the engine's userland proxy keeps a connection
// open), and ForPort and ForHTTP use it to say when a server listens only where the
// published port cannot reach it, such as on 127.0.0.1 inside the container.
type ListenTarget interface {
	// Listeners reports what listens on the container port ("5432/tcp").
	Listeners(port string) Listeners
}

// Listeners is what a ListenTarget knows about the sockets that listen on one
// container port.
type Listeners struct {
	// Known is false when the target cannot tell; the other fields are then empty.
	Known bool
	// Reachable is true when a socket listens where the published port reaches it:
	// on a wildcard address (0.0.0.0 or ::), or on the container's own address to
	// which the engine forwards the published port.
	Reachable bool
	// Elsewhere lists the addresses of the other listening sockets on the port, which
	// the published port does not reach: "127.0.0.1" and "::1" for a server that
	// listens on loopback only, or the container's address on another network.
	Elsewhere []string
}
