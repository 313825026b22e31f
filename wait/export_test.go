package wait

import "time"

// SetUnreachableGrace shortens how long a port may listen elsewhere only before a wait
// gives up, for the test that calls it (which must not be parallel).
func SetUnreachableGrace(d time.Duration) (restore func()) {
	old := unreachableGrace
	unreachableGrace = d
	return func() { unreachableGrace = old }
}

// Ready is ready, for the tests of this package; the containers package reaches it
// through waitwire.Ready.
var Ready = ready

// ExpectsExit is expectsExit, for the tests of this package.
var ExpectsExit = expectsExit

// OOMGrace is how long an exit by SIGKILL waits to be explained, for the tests of this
// package.
const OOMGrace = oomGrace
