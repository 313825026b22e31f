package containers

import (
	"math"
	"slices"
	"time"
)

// The sizing of a self-sizing pool (NewPool with size 0).
const (
	// autoMax bounds the containers a self-sizing pool keeps starting or ready. The
	// engine, not the pool, limits how fast containers start (a local engine on a
	// 2-core machine does about three starts a second at best), and
	// autoHelps stops the growth where more starts at once stop helping, usually well
	// below this bound; the bound caps what a misjudged estimate can cost: idle
	// containers after the last test, and starts that Close waits for.
	autoMax = 8
	// autoInitial is the target before the pool has measured a start and two takes:
	// one container for the first test and one starting for the next.
	autoInitial = 2
	// autoHelps is how much a further start at once must add, for the pool to run that
	// many at once or try one more: going from a to b starts in flight (the largest
	// smaller number measured), the throughput (containers ready per second) must grow
	// by at least autoHelps of what each of the a starts made, per start added. Starts
	// that overlap perfectly add 1; on an engine that is the bottleneck a further start
	// adds next to nothing and only makes each one slower.
	autoHelps = 0.25
	// The windows of the estimates: the median of the last startWindow starts (one slow
	// start does not move it), the median of the last levelWindow starts with the same
	// number in flight among the last levelAge starts, and the mean interval over the
	// last takeWindow takes. levelAge lets a measurement that stopped the growth expire
	// (the first starts of a process are slow: they pay for its session), so that the
	// pool tries that number again when its tests still call for more.
	startWindow = 5
	levelWindow = 3
	levelAge    = 12
	takeWindow  = 6
)

// estimates is what a self-sizing pool knows about its starts and its takes: the
// input of autoTarget. A zero duration means not measured yet.
type estimates struct {
	start    time.Duration          // median of the recent starts, launch to ready
	interval time.Duration          // mean interval between the recent takes
	byLevel  [autoMax]time.Duration // byLevel[k-1]: median recent start with about k starts in flight
}

// autoTarget returns how many containers a self-sizing pool keeps starting or ready:
// enough to cover the takes that come during one start, ceil(start / interval), plus
// one ready for the next take; at most as many as starts at once were seen to help
// (helpful), at most autoMax, at least 1.
func autoTarget(e estimates) int {
	want := autoInitial
	if e.start > 0 && e.interval > 0 {
		want = int(math.Ceil(float64(e.start)/float64(max(e.interval, time.Millisecond)))) + 1
	}
	return max(1, min(want, e.helpful(), autoMax))
}

// helpful returns the most starts at once that the measurements justify: walking up
// the measured numbers of starts in flight, the last one before a number that did not
// help (see helps), or one more than the largest measured when every one helped;
// autoInitial before any measurement.
func (e estimates) helpful() int {
	prev := 0
	for k := 1; k <= autoMax; k++ {
		d := e.byLevel[k-1]
		if d <= 0 {
			continue
		}
		if prev > 0 && !helps(prev, e.byLevel[prev-1], k, d) {
			return prev
		}
		prev = k
	}
	if prev == 0 {
		return autoInitial
	}
	return min(prev+1, autoMax)
}

// helps reports whether b starts at once, each taking db, made containers faster than
// a (< b) starts at once, each taking da, by at least autoHelps of the throughput of
// each of the a starts, per start added.
func helps(a int, da time.Duration, b int, db time.Duration) bool {
	xa, xb := throughput(a, da), throughput(b, db)
	return xb-xa >= autoHelps*float64(b-a)*xa/float64(a)
}

// throughput is the rate at which k starts at once, each taking d, make containers.
func throughput(k int, d time.Duration) float64 { return float64(k) / d.Seconds() }

// sizer keeps the measurements of a self-sizing pool; the pool's mutex guards it.
type sizer struct {
	starts []time.Duration       // the last startWindow start times
	levels [autoMax][]levelStart // the last levelWindow starts by starts in flight
	landed int                   // starts measured so far
	takes  []time.Time           // the last takeWindow takes

	// Starts in flight over time, for the concurrency each start ran at: inFlight
	// now, and its integral up to busyAt.
	inFlight int
	busy     time.Duration
	busyAt   time.Time
}

// levelStart is a measured start: its time and its number among the measured.
type levelStart struct {
	d   time.Duration
	seq int
}

// advance brings the integral of the starts in flight up to now.
func (s *sizer) advance(now time.Time) {
	if !s.busyAt.IsZero() && now.After(s.busyAt) {
		s.busy += time.Duration(s.inFlight) * now.Sub(s.busyAt)
	}
	if now.After(s.busyAt) {
		s.busyAt = now
	}
}

// launched records the launch of a start at now and returns the integral at it, for
// land.
func (s *sizer) launched(now time.Time) time.Duration {
	s.advance(now)
	s.inFlight++
	return s.busy
}

// land records the end of a start launched at t0 (with the integral busy0) at now;
// ok reports whether it made a ready container (only those are measured).
func (s *sizer) land(t0 time.Time, busy0 time.Duration, now time.Time, ok bool) {
	s.advance(now)
	s.inFlight--
	d := now.Sub(t0)
	if !ok || d <= 0 {
		return
	}
	k := int(math.Round(float64(s.busy-busy0) / float64(d)))
	k = max(1, min(k, autoMax))
	s.landed++
	s.starts = pushWindow(s.starts, d, startWindow)
	s.levels[k-1] = pushWindow(s.levels[k-1], levelStart{d, s.landed}, levelWindow)
}

// took records a take (a call of Get or Take) at now.
func (s *sizer) took(now time.Time) { s.takes = pushWindow(s.takes, now, takeWindow) }

// estimates returns the current estimates.
func (s *sizer) estimates() estimates {
	e := estimates{start: median(s.starts)}
	if n := len(s.takes); n >= 2 {
		e.interval = max(s.takes[n-1].Sub(s.takes[0])/time.Duration(n-1), time.Millisecond)
	}
	for k, l := range s.levels {
		var ds []time.Duration
		for _, st := range l {
			if s.landed-st.seq < levelAge {
				ds = append(ds, st.d)
			}
		}
		e.byLevel[k] = median(ds)
	}
	return e
}

func pushWindow[T any](w []T, v T, n int) []T {
	if len(w) == n {
		w = append(w[:0], w[1:]...)
	}
	return append(w, v)
}

// median returns the median of ds (the lower one of an even count), 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
