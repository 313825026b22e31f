package wait

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ExecStrategy waits until a command run in the container exits with the wanted code.
// See ForExec.
type ExecStrategy struct {
	cmd      []string
	exitCode int
	timeout  time.Duration
}

// ForExec waits until cmd, run in the container (as docker exec does), exits with code
// 0: a readiness command such as "pg_isready". It is run again after a growing delay
// (from a few milliseconds, up to 500 ms for a long wait) until it succeeds. A command
// that cannot be run at all (exit code 126 or 127: not found, not executable) fails at
// once. The image needs the command, so FROM scratch images need ForPort, ForLog or
// ForHTTP instead.
func ForExec(cmd ...string) *ExecStrategy {
	if len(cmd) == 0 {
		panic("wait: ForExec: no command")
	}
	return &ExecStrategy{cmd: append([]string(nil), cmd...)}
}

// ExitCode returns a copy of s that wants the command to exit with code instead of 0.
func (s *ExecStrategy) ExitCode(code int) *ExecStrategy {
	c := *s
	c.exitCode = code
	return &c
}

// Timeout returns a copy of s with a deadline of its own.
func (s *ExecStrategy) Timeout(d time.Duration) *ExecStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "exec pg_isready -U app".
func (s *ExecStrategy) String() string {
	d := "exec " + strings.Join(s.cmd, " ")
	if s.exitCode != 0 {
		d += fmt.Sprintf(" (exit code %d)", s.exitCode)
	}
	return d
}

// WaitUntilReady implements Strategy.
func (s *ExecStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	b := newBackoff(execPace)
	var last string
	for {
		res, err := t.Exec(ctx, s.cmd...)
		switch {
		case err != nil:
			// A run cut short by ctx says less than the one before it.
			if !over(ctx) || last == "" {
				last = err.Error()
			}
		case res.ExitCode == s.exitCode:
			return nil
		case cannotRun(res) && s.exitCode != 126 && s.exitCode != 127:
			return fmt.Errorf("%s: run command: exit code %d, it cannot be run in the container%s",
				s, res.ExitCode, outputHint(res))
		default:
			last = fmt.Sprintf("exit code %d%s", res.ExitCode, outputHint(res))
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, s, start, last)
		}
	}
}

// outputHint quotes the end of a command's output for a message, stderr first.
func outputHint(r ExecResult) string {
	out := strings.TrimSpace(r.Stderr)
	if out == "" {
		out = strings.TrimSpace(r.Stdout)
	}
	if out == "" {
		return ""
	}
	return ": " + oneLine(out, 200)
}

// cannotRun reports whether r says that the command could not be started at all: exit
// code 127 (not found), or 126 with the engine or shell saying the file is missing or
// not executable. The engine also answers 126 when the container is stopping, in
// wording that varies ("cannot exec in a stopped state", "error executing setns
// process"); that is for Ready to report as the container's exit, not a reason to give
// up, so only positive evidence counts.
func cannotRun(r ExecResult) bool {
	switch r.ExitCode {
	case 127:
		return true
	case 126:
		out := strings.ToLower(r.Stdout + r.Stderr)
		for _, missing := range []string{"executable file not found", "no such file or directory", "permission denied", "not found"} {
			if strings.Contains(out, missing) {
				return true
			}
		}
	}
	return false
}
