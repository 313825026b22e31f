package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/stdcopy"
)

// How the log code sees a container's output.
//
// The engine keeps one log per container, every run appended, readable until the
// container is removed (also after the process exited). Logs and LogTo see all of it.
// A wait (FollowLogs) sees only the current run: after Start or Restart of a stopped
// container, the lines of earlier runs do not count.
//
// The boundary between runs is a time in the engine's clock, used as the log's "since"
// filter (which keeps lines stamped at or after it, to the nanosecond). It is taken
// after the previous run has stopped and before the next one starts: the latest stamp
// of the log then, plus a nanosecond. Neither of the container's own times would do:
// the engine stamps StartedAt after the process began, so the first lines of a run can
// be older; and FinishedAt comes from the exit of the process, before the engine has
// read the last lines out of the pipe, so the last lines of a run can be newer. For
// the first run there is no boundary, so a container that printed and exited before it
// was looked at is still read from its first line.
//
// The LogTo copier counts the bytes it delivered. Whenever its stream ends (the
// container stopped, or is about to be removed) it reads the log again from the
// beginning and skips what it already delivered: that is exact whatever the stamps,
// because the log is only ever appended to. Before the container is removed its
// process is killed and the copier reads the log to the end.

// A LogStream names the output stream a log line was written to.
type LogStream string

// The streams of a container's output. A container with a terminal (Config.Tty through
// Modify) has one stream, reported as Stdout.
const (
	Stdout LogStream = "stdout"
	Stderr LogStream = "stderr"
)

// A LogLine is one line of a container's output, as LogConsumer delivers it.
type LogLine struct {
	Stream LogStream // Stdout or Stderr
	Text   string    // the line without its line end ("\n", or "\r\n" with a terminal)
}

// LogConsumer makes f receive each line the container writes, with the stream it was
// written to, across restarts until the container is removed, like LogTo (and beside
// it: a spec may have both, and several consumers). Lines reach f in the order the
// engine recorded them, one call at a time, each line once; lines longer than the
// engine's buffer are joined again. A last line without a line end is delivered when
// the container is removed. f must not block for long: it holds up the lines after it.
// Nothing reaches f after the container's removal returned.
func (s Spec) LogConsumer(f func(LogLine)) Spec {
	if f == nil {
		return s.fail(errors.New("log consumer: nil function"))
	}
	s.logConsumers = append(slices.Clip(s.logConsumers), f)
	return s
}

// logState is what the log code keeps about a container.
type logState struct {
	tty    bool       // created with a terminal: one raw stream, not stdout/stderr frames
	copier *logCopier // nil without LogTo or LogConsumer

	mu    sync.Mutex
	since time.Time // where the current run's lines begin; zero for the first run
}

// Logs returns everything the container has written to stdout and stderr so far, in
// every run, interleaved in the order the engine recorded it. A container with a
// terminal (Config.Tty through Modify) writes both to one stream, with CR LF line ends.
func (c *Container) Logs(ctx context.Context) (string, error) {
	return c.readLogs(ctx, "all")
}

// LogTail returns the last n lines of the container's stdout and stderr.
func (c *Container) LogTail(ctx context.Context, n int) (string, error) {
	return c.readLogs(ctx, strconv.Itoa(n))
}

func (c *Container) readLogs(ctx context.Context, tail string) (string, error) {
	rc, err := c.eng.Client.ContainerLogs(ctx, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return "", c.wrap("read logs of", err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if err := c.copyStream(&buf, rc); err != nil {
		return buf.String(), c.wrap("read logs of", err)
	}
	return buf.String(), nil
}

// copyStream writes the engine's log stream to w: demultiplexed stdout and stderr
// frames, or the raw stream of a container with a terminal.
func (c *Container) copyStream(w io.Writer, rc io.Reader) error {
	var err error
	if c.logs.tty {
		_, err = io.Copy(w, rc)
	} else {
		lw := &lockedWriter{w: w}
		_, err = stdcopy.StdCopy(lw, lw, rc)
	}
	return err
}

// FollowLogs streams stdout and stderr, demultiplexed, from the start of the
// container's current run (after a Start or Restart of a stopped container, the earlier
// runs' lines are left out; Logs has them all) and follows until ctx is done or the
// container stops. A container that has already exited yields its run's lines, then EOF.
func (c *Container) FollowLogs(ctx context.Context) (io.ReadCloser, error) {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true}
	c.logs.mu.Lock()
	if since := c.logs.since; !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	c.logs.mu.Unlock()
	rc, err := c.eng.Client.ContainerLogs(ctx, c.id, opts)
	if err != nil {
		return nil, c.wrap("follow logs of", err)
	}
	pr, pw := io.Pipe()
	go func() {
		cw := &countingWriter{w: pw}
		err := c.copyStream(cw, rc)
		rc.Close()
		if err == nil && ctx.Err() == nil {
			// The engine can end a follow as the container stops before it has sent the
			// last lines (with a process that exits at once, all of them): read the log
			// again and pass on what the follow left out.
			opts.Follow = false
			err = c.streamLogs(ctx, opts, &skipWriter{w: pw, skip: cw.n})
		}
		pw.CloseWithError(err)
	}()
	return &pipeCloser{PipeReader: pr, src: rc}, nil
}

// streamLogs copies one read of the log to w.
func (c *Container) streamLogs(ctx context.Context, opts container.LogsOptions, w io.Writer) error {
	rc, err := c.eng.Client.ContainerLogs(ctx, c.id, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.copyStream(w, rc)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// skipWriter drops the first skip bytes written to it and passes on the rest.
type skipWriter struct {
	w    io.Writer
	skip int64
}

func (sw *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if sw.skip > 0 {
		k := min(sw.skip, int64(len(p)))
		p, sw.skip = p[k:], sw.skip-k
	}
	if len(p) > 0 {
		if _, err := sw.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// newRun moves the boundary of FollowLogs before a stopped container starts again, so
// that waits see only the new run's lines. On a running container it does nothing:
// starting it again starts no new run.
func (c *Container) newRun(ctx context.Context) error {
	info, err := c.eng.Client.ContainerInspect(ctx, c.id)
	if err != nil {
		return err
	}
	if info.State == nil || info.State.Running {
		return nil
	}
	// Every line of the runs so far is in the log now: the engine reads a process's
	// output to the end before it reports the container stopped.
	last, _ := time.Parse(time.RFC3339Nano, info.State.FinishedAt)
	started, _ := time.Parse(time.RFC3339Nano, info.State.StartedAt)
	if ts, err := c.lastLogStamp(ctx); err == nil && ts.After(last) {
		last = ts
	}
	// Podman 4.3 records a FinishedAt before the StartedAt of the same run and stamps
	// log lines with whole seconds: neither is later than the run's last line. The
	// engine's clock, read now that the run is over, is.
	if podman, err := c.eng.Podman(ctx); (err == nil && podman) || last.Before(started) {
		if now, err := engineNow(ctx, c.eng); err == nil && now.After(last) {
			last = now
		}
	}
	if last.Year() <= 1 {
		return nil // never ran, or nothing to tell the runs apart by
	}
	c.logs.mu.Lock()
	c.logs.since = last.Add(time.Nanosecond)
	c.logs.mu.Unlock()
	return nil
}

// engineNow returns the time on the engine's clock.
func engineNow(ctx context.Context, eng *engine.Engine) (time.Time, error) {
	info, err := eng.Client.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, info.SystemTime)
}

// lastLogStamp returns the latest time stamp among the log's last lines. The engine
// stamps stdout and stderr lines in separate goroutines, so the last line written is
// not always the latest stamped: look at a few.
func (c *Container) lastLogStamp(ctx context.Context) (time.Time, error) {
	rc, err := c.eng.Client.ContainerLogs(ctx, c.id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: "100", Timestamps: true,
	})
	if err != nil {
		return time.Time{}, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if err := c.copyStream(&buf, rc); err != nil {
		return time.Time{}, err
	}
	return latestStamp(buf.Bytes()), nil
}

// latestStamp returns the latest of the time stamps that begin the lines of a log read
// with Timestamps ("2006-01-02T15:04:05.000000000Z line"). A line the engine split (longer
// than its buffer) carries the stamp of its second part in the middle: it is skipped.
func latestStamp(b []byte) time.Time {
	var latest time.Time
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		stamp, _, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, string(stamp)); err == nil && ts.After(latest) {
			latest = ts
		}
	}
	return latest
}

type pipeCloser struct {
	*io.PipeReader
	src io.Closer
}

func (p *pipeCloser) Close() error {
	p.src.Close()
	return p.PipeReader.Close()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// A logCopier copies a container's output to a LogTo writer across runs until the
// container is removed.
type logCopier struct {
	final     chan struct{} // closed when the container is about to be removed: read to the end
	finalOnce sync.Once
	done      chan struct{} // closed when the copier has returned

	mu        sync.Mutex
	w         io.Writer       // LogTo, or nil
	consumers []func(LogLine) // LogConsumer
	tty       bool            // lines end in CR LF
	partial   [2][]byte       // per stream, the bytes after the last line end
	delivered int64           // bytes of the log delivered
	closed    bool            // after removal nothing more is delivered
}

// write delivers the part of p that lies beyond what was delivered, p being the bytes
// of the log from offset at, all written to stream. The offset counts the bytes of
// both streams in the order of the log, which is the same in every read of it.
func (lc *logCopier) write(at int64, stream LogStream, p []byte) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if skip := lc.delivered - at; skip > 0 {
		p = p[min(skip, int64(len(p))):]
	}
	if lc.closed || len(p) == 0 {
		return
	}
	// A failing writer does not stop the copier: the bytes count as delivered.
	if lc.w != nil {
		_, _ = lc.w.Write(p)
	}
	if len(lc.consumers) > 0 {
		lc.splitLines(stream, p)
	}
	lc.delivered += int64(len(p))
}

// splitLines hands the complete lines of stream in p, with what was left of it
// before, to the consumers, and keeps the rest for later.
func (lc *logCopier) splitLines(stream LogStream, p []byte) {
	i := streamIndex(stream)
	buf := append(lc.partial[i], p...)
	for {
		j := bytes.IndexByte(buf, '\n')
		if j < 0 {
			break
		}
		lc.emit(stream, buf[:j])
		buf = buf[j+1:]
	}
	lc.partial[i] = append(lc.partial[i][:0], buf...)
}

func (lc *logCopier) emit(stream LogStream, line []byte) {
	if lc.tty {
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	l := LogLine{Stream: stream, Text: string(line)}
	for _, f := range lc.consumers {
		f(l)
	}
}

func streamIndex(s LogStream) int {
	if s == Stderr {
		return 1
	}
	return 0
}

// close delivers the last lines that have no line end and stops all further writes,
// so that nothing reaches the writer or the consumers after removal returned.
func (lc *logCopier) close() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		return
	}
	for _, s := range []LogStream{Stdout, Stderr} {
		if p := lc.partial[streamIndex(s)]; len(p) > 0 {
			lc.emit(s, p)
		}
	}
	lc.closed = true
}

// logReader passes the bytes of one read of the log, from its beginning, to write:
// stdout and stderr writers that share the offset in the log.
type logReader struct {
	lc *logCopier
	at int64
}

type offsetWriter struct {
	r      *logReader
	stream LogStream
}

func (o offsetWriter) Write(p []byte) (int, error) {
	o.r.lc.write(o.r.at, o.stream, p)
	o.r.at += int64(len(p))
	return len(p), nil
}

// followLogsTo starts copying the container's output to the spec's LogTo writer and
// LogConsumer functions until the container is removed (see drainLogs).
func (c *Container) followLogsTo(s Spec) {
	lc := &logCopier{
		w: s.logTo, consumers: slices.Clone(s.logConsumers), tty: c.logs.tty,
		final: make(chan struct{}), done: make(chan struct{}),
	}
	c.logs.copier = lc
	go c.copyLogs(lc)
}

func (c *Container) copyLogs(lc *logCopier) {
	defer close(lc.done)
	idle := 10 * time.Millisecond
	for {
		final := isClosed(lc.final)
		before := lc.deliveredBytes()
		err := c.readAllLogs(lc, !final)
		if final {
			return
		}
		if errdefs.IsNotFound(err) {
			return // removed behind the framework's back: nothing more to read
		}
		if lc.deliveredBytes() > before {
			idle = 10 * time.Millisecond
		} else {
			// The stream ended at once without anything new (the engine's follow of a
			// container that is stopping, or a failing engine): don't spin.
			select {
			case <-time.After(idle):
			case <-lc.final:
			}
			idle = min(2*idle, time.Second)
		}
		// The stream ends when the container stops: wait until it runs again.
		c.waitRunning(lc.final)
	}
}

// readAllLogs reads the log from its beginning, following it when follow is set, and
// delivers what is new. A follow is cut short when the container is about to be
// removed (the copier then reads once more, to the end).
func (c *Container) readAllLogs(lc *logCopier, follow bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if follow {
		go func() {
			select {
			case <-lc.final:
				cancel()
			case <-ctx.Done():
			}
		}()
	} else {
		var tcancel context.CancelFunc
		ctx, tcancel = context.WithTimeout(ctx, time.Minute)
		defer tcancel()
	}
	rc, err := c.eng.Client.ContainerLogs(ctx, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		return err
	}
	defer rc.Close()
	r := &logReader{lc: lc}
	if c.logs.tty {
		_, err = io.Copy(offsetWriter{r, Stdout}, rc)
	} else {
		// StdCopy writes the frames one after the other, in the log's order.
		_, err = stdcopy.StdCopy(offsetWriter{r, Stdout}, offsetWriter{r, Stderr}, rc)
	}
	return err
}

// waitRunning returns once the engine says the container runs, or final is closed.
func (c *Container) waitRunning(final <-chan struct{}) {
	for !isClosed(final) {
		changed := c.stateChanged()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := c.eng.Client.ContainerInspect(ctx, c.id)
		cancel()
		if errdefs.IsNotFound(err) {
			return
		}
		if err == nil && info.State != nil && info.State.Running {
			return
		}
		// Events say when it starts again; ask the engine now and then as well.
		select {
		case <-changed:
		case <-final:
		case <-time.After(time.Second):
		}
	}
}

func (lc *logCopier) deliveredBytes() int64 {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.delivered
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// drainLogs runs before the container is removed, when the spec has LogTo or
// LogConsumer: it kills the process so that its output ends, and lets the copier read
// the log to the end
// (the engine deletes the log with the container). It gives up after a while, or when
// ctx is done; nothing reaches the writer after it returned.
func (c *Container) drainLogs(ctx context.Context) {
	lc := c.logs.copier
	if lc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A stopped container fails to be killed: its output has ended already.
	if err := c.eng.Client.ContainerKill(ctx, c.id, "SIGKILL"); err == nil {
		stopped, errs := c.eng.Client.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
		select {
		case <-stopped:
		case <-errs:
		}
	}
	lc.finalOnce.Do(func() { close(lc.final) })
	select {
	case <-lc.done:
	case <-ctx.Done():
	}
	lc.close()
}
