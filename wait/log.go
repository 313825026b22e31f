package wait

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
)

// LogStrategy waits until the container's output holds a substring or a line matching
// a regular expression, a number of times. See ForLog and ForLogRegexp.
type LogStrategy struct {
	sub     string
	re      *regexp.Regexp
	times   int
	timeout time.Duration
	onMatch func(submatches []string) error
}

// ForLog waits until substring occurs in the container's stdout or stderr (counted
// from the start of the container's current run, non-overlapping; it may span lines).
// After a restart, the earlier runs' lines do not count. The log is followed as a
// stream and matched as it arrives, across read boundaries. When the container exits,
// what it wrote before is still read to the end: a one-shot container that prints the
// line and exits is ready. ForLog panics if substring is empty.
func ForLog(substring string) *LogStrategy {
	if substring == "" {
		panic("wait: ForLog: empty substring")
	}
	return &LogStrategy{sub: substring, times: 1}
}

// ForLogRegexp waits until a line of the container's stdout or stderr matches the
// regular expression pattern (RE2 syntax, matched against each line without its line
// ending). A line longer than 1 MiB is matched in parts. ForLogRegexp panics if pattern
// does not compile, as regexp.MustCompile does.
func ForLogRegexp(pattern string) *LogStrategy {
	re, err := regexp.Compile(pattern)
	if err != nil {
		panic("wait: ForLogRegexp: " + err.Error())
	}
	return &LogStrategy{re: re, times: 1}
}

// Times returns a copy of s that waits for n occurrences (ForLog) or n matching lines
// (ForLogRegexp) instead of one. It panics if n < 1.
func (s *LogStrategy) Times(n int) *LogStrategy {
	if n < 1 {
		panic("wait: Times: n must be at least 1, got " + strconv.Itoa(n))
	}
	c := *s
	c.times = n
	return &c
}

// OnMatch returns a copy of s that hands each line matching the regular expression to
// fn, as its submatches (submatches[0] is the whole match, then one per group, "" for
// a group that did not take part): to read a generated password or a port from the
// log. The line counts towards Times only when fn returns nil. Another error rejects
// the line, and the wait goes on (a timeout reports the last rejection); an error
// marked with Permanent ends the wait at once, wrapped. fn is called from the wait's
// goroutine, one line at a time. OnMatch needs ForLogRegexp: on a ForLog strategy the
// wait fails at once.
func (s *LogStrategy) OnMatch(fn func(submatches []string) error) *LogStrategy {
	c := *s
	c.onMatch = fn
	return &c
}

// Timeout returns a copy of s with a deadline of its own.
func (s *LogStrategy) Timeout(d time.Duration) *LogStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: `log "ready"`, `log /^ready$/ (2 times)`.
func (s *LogStrategy) String() string {
	var d string
	if s.re != nil {
		d = "log /" + s.re.String() + "/"
	} else {
		d = "log " + strconv.Quote(s.sub)
	}
	if s.times > 1 {
		d += fmt.Sprintf(" (%d times)", s.times)
	}
	return d
}

// WaitUntilReady implements Strategy.
func (s *LogStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if s.onMatch != nil && s.re == nil {
		return fmt.Errorf("%s: OnMatch needs a regular expression (ForLogRegexp), not a substring", s)
	}
	m := s.matcher()
	// The exit of the container ends the wait (ctx's cause is ErrExited), but only after
	// the log has been read to its end: a process that prints its line and exits at
	// once is often reported dead before its line has been read.
	rctx, stopReading := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReading()
	defer context.AfterFunc(ctx, func() {
		if !errors.Is(context.Cause(ctx), ErrExited) {
			stopReading()
			return
		}
		drain := time.NewTimer(exitDrain)
		defer drain.Stop()
		select {
		case <-drain.C:
			stopReading()
		case <-rctx.Done():
		}
	})()
	rc, err := t.FollowLogs(rctx)
	if err != nil {
		if rctx.Err() != nil {
			return notReady(ctx, s, start, m.seen())
		}
		return fmt.Errorf("%s: follow logs: %w", s, err)
	}
	defer rc.Close()
	// The stream may not end by itself when reading must stop: close it then.
	defer context.AfterFunc(rctx, func() { rc.Close() })()

	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 && m.feed(buf[:n]) {
			return m.result(s)
		}
		if err == nil {
			continue
		}
		if rctx.Err() != nil {
			return notReady(ctx, s, start, m.seen())
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: read logs: %w (%s)", s, err, m.seen())
		}
		if m.flush() {
			return m.result(s)
		}
		return s.afterEOF(ctx, t, start, m)
	}
}

// exitDrain bounds how long a log wait reads on after the container exited: the log
// stream ends by itself when the container stops, this is for an engine that does not.
const exitDrain = 5 * time.Second

// afterEOF handles a log stream that ended without a match: it ends when the container
// stops, so wait for the exit to be reported and say so (ctx ending first is a timeout).
func (s *LogStrategy) afterEOF(ctx context.Context, t Target, start time.Time, m logMatcher) error {
	for {
		ch := observed(t).StatusChanged()
		if st := observed(t).Status(); st.Exited {
			return &exitedError{strategy: s.String(), name: t.Name(), status: exitStatus(t, st), detail: m.seen()}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return notReady(ctx, s, start, m.seen()+"; log stream ended")
		}
	}
}

func (s *LogStrategy) matcher() logMatcher {
	if s.re != nil {
		return &lineMatcher{re: s.re, want: s.times, onMatch: s.onMatch}
	}
	return &substringMatcher{sub: []byte(s.sub), want: s.times}
}

// A logMatcher counts matches in a stream fed in arbitrary chunks.
type logMatcher interface {
	// feed consumes the next chunk and reports whether enough matches were seen.
	feed(p []byte) bool
	// flush consumes what feed held back at the end of the stream.
	flush() bool
	// seen says how far matching got: "log matched 1 of 2".
	seen() string
	// result is, once feed or flush returned true, the wait's outcome: nil, or the
	// permanent error of an OnMatch callback.
	result(s fmt.Stringer) error
}

// substringMatcher counts non-overlapping occurrences. Between chunks it keeps only
// the bytes that could start an occurrence spanning the boundary: fewer than len(sub).
type substringMatcher struct {
	sub         []byte
	want, count int
	carry, buf  []byte
}

func (m *substringMatcher) feed(p []byte) bool {
	m.buf = append(append(m.buf[:0], m.carry...), p...)
	rest := m.buf
	for {
		i := bytes.Index(rest, m.sub)
		if i < 0 {
			break
		}
		m.count++
		if m.count >= m.want {
			return true
		}
		rest = rest[i+len(m.sub):]
	}
	if keep := len(m.sub) - 1; len(rest) > keep {
		rest = rest[len(rest)-keep:]
	}
	m.carry = append(m.carry[:0], rest...)
	return false
}

func (m *substringMatcher) flush() bool { return false }

func (m *substringMatcher) result(fmt.Stringer) error { return nil }

func (m *substringMatcher) seen() string {
	return fmt.Sprintf("log matched %d of %d", m.count, m.want)
}

// maxLine bounds the partial line a lineMatcher holds; longer lines are matched in parts.
const maxLine = 1 << 20

// lineMatcher counts lines that match a regular expression. It holds back the partial
// last line of a chunk until its end arrives.
type lineMatcher struct {
	re          *regexp.Regexp
	want, count int
	partial     []byte
	onMatch     func([]string) error
	rejected    error // the last error of onMatch
	stop        error // a permanent error of onMatch
}

func (m *lineMatcher) feed(p []byte) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.partial = append(m.partial, p...)
			if len(m.partial) >= maxLine {
				return m.flush()
			}
			return false
		}
		line := p[:i]
		if len(m.partial) > 0 {
			m.partial = append(m.partial, line...)
			line = m.partial
		}
		p = p[i+1:]
		if m.match(line) {
			return true
		}
	}
	return false
}

// match counts line (without its line ending) and resets the partial line.
func (m *lineMatcher) match(line []byte) bool {
	m.partial = m.partial[:0]
	line = bytes.TrimSuffix(line, []byte("\r"))
	if m.onMatch == nil {
		if m.re.Match(line) {
			m.count++
		}
		return m.count >= m.want
	}
	sm := m.re.FindSubmatch(line)
	if sm == nil {
		return false
	}
	subs := make([]string, len(sm))
	for i, b := range sm {
		subs[i] = string(b)
	}
	switch err := m.onMatch(subs); {
	case err == nil:
		m.count++
	case isPermanent(err):
		m.stop = err
		return true
	default:
		m.rejected = err
	}
	return m.count >= m.want
}

func (m *lineMatcher) result(s fmt.Stringer) error {
	if m.stop != nil {
		return fmt.Errorf("%s: OnMatch: %w", s, m.stop)
	}
	return nil
}

func (m *lineMatcher) flush() bool {
	if len(m.partial) == 0 {
		return false
	}
	return m.match(m.partial)
}

func (m *lineMatcher) seen() string {
	d := fmt.Sprintf("log matched %d of %d", m.count, m.want)
	if m.rejected != nil {
		d += "; OnMatch rejected the last match: " + m.rejected.Error()
	}
	return d
}
