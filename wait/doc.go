// Package wait decides when a container is ready for a test to use it.
//
// A Strategy waits on a Target, which *containers.Container implements; a spec names
// its strategies with WaitFor and Start returns only once they are satisfied:
//
//	db := containers.Image("postgres-test:15").
//		Expose("5432/tcp").
//		WaitFor(
//			wait.ForLog("ready to accept connections").Times(2),
//			wait.ForPort("5432/tcp"),
//		).
//		Start(t)
//
// The strategies:
//
//   - ForPort: the published port accepts a connection, and it is not merely the
//     engine's proxy accepting on behalf of a process that does not listen yet, or
//     listens on 127.0.0.1 inside the container only, out of the proxy's reach.
//     ForPort(p).Unpublished(): a port the container does not publish listens where
//     other containers reach it, judged from its socket table.
//   - ForLog, ForLogRegexp: the log holds a substring or a matching line, n times;
//     OnMatch hands each matching line's submatches to the test (a generated password).
//   - ForHTTP: an HTTP(S) endpoint answers with the wanted status, headers and body,
//     to a request with the test's method, body, headers, basic auth or http.Client.
//   - ForTLS: a port serves a certificate that verifies for the host (or a name).
//   - ForSQL: a query through the test's own database/sql driver succeeds.
//   - ForHealthy: the image's Docker health check reports healthy.
//   - ForExec: a command run in the container exits with the wanted code.
//   - ForExit: the container's process exited with the wanted code (init containers).
//   - ForFunc: a function of the test returns nil.
//   - All, Any: combinations, waiting concurrently.
//
// Waits are driven by streams, not by slow polling: logs are followed as they are
// written, health and exit come from the engine's events, and probes start a few
// milliseconds apart. When the container dies while a strategy waits, Ready returns at
// once with the exit code and the last log lines, instead of waiting for the deadline.
//
// Each strategy can have a Timeout of its own. Otherwise the deadline is the spec's start
// timeout or the context's deadline, whichever comes first; with neither,
// CONTAINERTEST_START_TIMEOUT, or 60 s. Every error
// that means "not ready" wraps ErrNotReady and says what the strategy last saw
// ("connection refused", "HTTP 503", "log matched 1 of 2", "unhealthy: <probe output>");
// an error caused by the container's exit also wraps ErrExited. A callback of the test
// (ForFunc, OnMatch) ends a wait at once by returning an error marked with Permanent.
//
// Strategy values are immutable: every method returns a changed copy, so a strategy can
// be shared by parallel tests.
package wait
