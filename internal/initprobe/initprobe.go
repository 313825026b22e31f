// Package initprobe plays, for the tests of internal/reaper, a user package whose init
// function depends on the process it runs in. The reaper's watchdog is the test binary
// re-executed, and Go runs the init functions of the packages that sort before
// internal/reaper (this one does, and imports nothing of the module) before the
// reaper's init dispatches to the watchdog: so this init runs in every watchdog too.
//
// REAPER_TEST_INIT selects what the init does; unset, it does nothing:
//
//   - read-testdata: read testdata/init-probe.txt relative to the working directory and
//     exit with status 3 when that fails, as a package that loads a fixture at init does;
//   - exit-in-watchdog: exit with status 3 in a watchdog, as an init does that fails in
//     a second process (one that takes a lock or a fixed port the test process holds);
//   - hang-in-watchdog: block forever in a watchdog;
//   - wait-in-watchdog: in a watchdog, wait until the file REAPER_TEST_INIT_FILE names
//     exists (at most two minutes, then exit with status 3), so that a test decides
//     when the watchdog gets ready.
package initprobe

import (
	"fmt"
	"os"
	"time"
)

// Env selects the behaviour of the init function.
const Env = "REAPER_TEST_INIT"

// EnvFile names the file wait-in-watchdog waits for.
const EnvFile = "REAPER_TEST_INIT_FILE"

// envWatchdog is the variable internal/reaper starts its watchdog with.
const envWatchdog = "CONTAINERTEST_INTERNAL_WATCHDOG"

func init() {
	_, watchdog := os.LookupEnv(envWatchdog)
	switch os.Getenv(Env) {
	case "read-testdata":
		if _, err := os.ReadFile("testdata/init-probe.txt"); err != nil {
			fmt.Fprintf(os.Stderr, "initprobe: load fixture: %v\n", err)
			os.Exit(3)
		}
	case "exit-in-watchdog":
		if watchdog {
			fmt.Fprintln(os.Stderr, "initprobe: init exits on purpose in the watchdog")
			os.Exit(3)
		}
	case "hang-in-watchdog":
		for watchdog {
			time.Sleep(time.Hour)
		}
	case "wait-in-watchdog":
		for end := time.Now().Add(2 * time.Minute); watchdog; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(os.Getenv(EnvFile)); err == nil {
				break
			}
			if time.Now().After(end) {
				fmt.Fprintf(os.Stderr, "initprobe: %s never appeared\n", os.Getenv(EnvFile))
				os.Exit(3)
			}
		}
	}
}
