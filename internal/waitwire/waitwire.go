// Package waitwire is the wiring between package containers and package wait that
// users do not call: what a framework container tells the strategies beyond the small
// wait.Target (its state from the engine's events, its socket table, its published
// ports, its log tail and health probe output), and the entry point through which
// containers runs a strategy.
//
// Every interface here is optional: a strategy type-asserts the wait.Target it gets,
// and a target without the method (a fake in a test, a user's own) gets the plain
// behaviour. Package wait sets Ready at init.
package waitwire

import (
	"context"
	"os"
	"time"
)

// Status is a container's state as known from the engine's events.
type Status struct {
	// Running is true between the start and die events.
	Running bool
	// Exited is true once the process has ended (die event); ExitCode is then valid.
	Exited   bool
	ExitCode int
	// OOMKilled is true when the engine reported an out-of-memory kill.
	OOMKilled bool
	// OOMUnreported is true when the container has a memory limit and its engine
	// may not report out-of-memory kills (podman 4): an exit by SIGKILL that no oom
	// event explains may be one.
	OOMUnreported bool
	// HasHealthCheck is true when the container has a Docker health check.
	HasHealthCheck bool
	// Health is "", "starting", "healthy" or "unhealthy".
	Health string
}

// Observed is a target whose state follows the engine's event stream. Ready uses it to
// end a wait at once when the container exits; ForExit and ForHealthy need it.
type Observed interface {
	// Status is the container's state as last reported by the engine's event stream.
	// It makes no API call.
	Status() Status
	// StatusChanged returns a channel that is closed at the next change of Status.
	StatusChanged() <-chan struct{}
}

// Reinspector is an Observed target that can ask the engine for its state when an
// event may be late: the engine records an out-of-memory kill in the container's state
// before its oom event reaches a busy event stream.
type Reinspector interface {
	// Reinspect asks the engine for the container's state, merges what the events have
	// not yet said (an out-of-memory kill of the current run) into Status, and returns
	// it.
	Reinspect(ctx context.Context) (Status, error)
}

// Listeners is what a Listening target knows about the sockets that listen on one
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

// Listening is a target that can tell, without any network traffic, whether a process
// in the container listens on a TCP port where its published port reaches it: on a
// local Linux engine, from the socket table of the container's network namespace.
// ForPort uses it to know exactly when the port listens (without it, ForPort infers
// that from how long the engine's userland proxy keeps a connection open), and ForPort
// and ForHTTP use it to say when a server listens only where the published port cannot
// reach it, such as on 127.0.0.1 inside the container.
type Listening interface {
	// Listeners reports what listens on the container port ("5432/tcp").
	Listeners(port string) Listeners
}

// PortLister is a target that knows which container ports it publishes: ForHTTP
// without a Port uses the first.
type PortLister interface {
	// ExposedPorts lists the published container ports ("8080/tcp") in the order the
	// spec exposed them.
	ExposedPorts() []string
}

// Tailer is a target that can give its last log lines, which end the errors of Ready.
type Tailer interface {
	// LogTail returns the last n lines of the container's stdout and stderr.
	LogTail(ctx context.Context, n int) (string, error)
}

// HealthLogger is a target that can give the output of its last health probe, for the
// errors of ForHealthy.
type HealthLogger interface {
	// HealthLog returns the output of the most recent health probe ("" when none
	// ran), asking the engine.
	HealthLog(ctx context.Context) (string, error)
}

// Enrich returns what a framework container tells strategies beyond wait.Target: for
// a *containers.Container, a value that also implements the interfaces of this
// package; any other target unchanged. Package containers sets it at init, so that a
// strategy called directly with a container (s.WaitUntilReady(ctx, c)) sees as much as
// one run by Start.
var Enrich func(t any) any

// Ready waits until the strategy s (a wait.Strategy) reports the target t (a
// wait.Target) ready, within timeout as wait's ready documents. Package wait sets it at
// init; the arguments are untyped because this package cannot import wait.
var Ready func(ctx context.Context, t, s any, timeout time.Duration) error

// DefaultTimeout is the startup deadline used when neither the context nor the spec sets
// one: CONTAINERTEST_START_TIMEOUT (a Go duration such as "90s") or 60 s.
func DefaultTimeout() time.Duration {
	if v := os.Getenv("CONTAINERTEST_START_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return 60 * time.Second
}
