//go:build unix

package reaper

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processGone reports whether no live process has pid and start time start
// (see engine.ProcStart); false when that cannot be known.
func processGone(pid int, start string) bool {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		// No procfs: only "no such process" is proof.
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		// procfs may hide other users' processes (hidepid): confirm with a signal 0,
		// which fails with EPERM, not ESRCH, for a process that exists.
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	if err != nil {
		return false
	}
	state, started, ok := parseStat(string(b))
	if !ok {
		return false
	}
	if state == "Z" || state == "X" {
		return true // exited, not yet reaped by its parent
	}
	return start != "" && started != start
}

// parseStat returns the state (field 3) and start time (field 22) of a
// /proc/PID/stat line.
func parseStat(s string) (state, start string, ok bool) {
	// The command name (field 2) is in parentheses and may hold spaces and ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}
