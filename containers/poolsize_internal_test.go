package containers

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// levels returns byLevel with the start times ds for 1, 2, ... starts in flight.
func levels(ds ...time.Duration) [autoMax]time.Duration {
	var l [autoMax]time.Duration
	copy(l[:], ds)
	return l
}

func TestAutoTarget(t *testing.T) {
	for name, tc := range map[string]struct {
		e    estimates
		want int
	}{
		"nothing measured: the initial size": {estimates{}, autoInitial},
		"a start but no interval yet":        {estimates{start: 500 * ms, byLevel: levels(500 * ms)}, autoInitial},
		"slow tests: one ready, one starting": {
			estimates{start: 500 * ms, interval: 2 * time.Second, byLevel: levels(500 * ms)}, 2},
		"tests as long as a start": {
			estimates{start: 500 * ms, interval: 500 * ms, byLevel: levels(500 * ms)}, 2},
		// Starts that overlap perfectly (the wait is inside the containers): 2.5 starts
		// per interval, plus one ready.
		"fast tests, starts that overlap": {
			estimates{start: time.Second, interval: 400 * ms, byLevel: levels(time.Second, time.Second, time.Second, time.Second)}, 4},
		// Only one and two starts at once measured: the pool may try three, not more,
		// however fast the tests.
		"growth one step beyond the measurements": {
			estimates{start: time.Second, interval: 10 * ms, byLevel: levels(time.Second, time.Second)}, 3},
		"never beyond the maximum": {
			estimates{start: time.Second, interval: 10 * ms, byLevel: levels(time.Second, time.Second, time.Second, time.Second, time.Second, time.Second, time.Second, time.Second)}, autoMax},
		// The engine's throughput: 2/s at one, 2.7/s at two, 2.8/s at three (3%
		// more): three at once does not help, so it stays at two however fast the
		// tests.
		"a saturated engine stops the growth": {
			estimates{start: 1050 * ms, interval: 50 * ms, byLevel: levels(500*ms, 750*ms, 1070*ms)}, 2},
		// Two at once made 2.2 containers a second against 2 for one at a time: not
		// worth a second start at once.
		"two at once barely faster than one: one": {
			estimates{start: 500 * ms, interval: 50 * ms, byLevel: levels(500*ms, 909*ms)}, 1},
		// Starts measured only at two at once (the initial pair), and three at once
		// gave nothing more.
		"saturated from the first pair": {
			estimates{start: time.Second, interval: 50 * ms, byLevel: levels(0, 750*ms, 1125*ms)}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			if got := autoTarget(tc.e); got != tc.want {
				t.Errorf("autoTarget(%+v) = %d, want %d", tc.e, got, tc.want)
			}
		})
	}
}

// One slow start does not move the start estimate; the interval is the mean over the
// window, so a burst of takes raises the demand.
func TestSizerEstimates(t *testing.T) {
	var s sizer
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Five sequential starts of 500 ms, one of them 5 s.
	now := time.Duration(0)
	for i, d := range []time.Duration{500 * ms, 500 * ms, 5 * time.Second, 500 * ms, 500 * ms} {
		b := s.launched(at(now))
		s.land(at(now), b, at(now+d), true)
		now += d
		if i == 2 {
			if e := s.estimates(); e.start != 500*ms {
				t.Fatalf("after a slow third start: start estimate %v, want 500ms", e.start)
			}
		}
	}
	e := s.estimates()
	if e.start != 500*ms || e.byLevel[0] != 500*ms || e.byLevel[1] != 0 {
		t.Fatalf("sequential starts: %+v, want 500ms at one in flight only", e)
	}
	// A failed start is not measured.
	b := s.launched(at(now))
	s.land(at(now), b, at(now+time.Hour), false)
	if got := s.estimates().start; got != 500*ms {
		t.Fatalf("a failed start moved the estimate to %v", got)
	}
	// Two starts side by side for 800 ms count at two in flight.
	now += time.Hour
	b1 := s.launched(at(now))
	b2 := s.launched(at(now))
	s.land(at(now), b1, at(now+800*ms), true)
	s.land(at(now), b2, at(now+800*ms), true)
	if got := s.estimates().byLevel[1]; got != 800*ms {
		t.Fatalf("two starts at once: byLevel[1] = %v, want 800ms", got)
	}
	if s.inFlight != 0 {
		t.Fatalf("inFlight %d after every start landed", s.inFlight)
	}
	// A measurement expires after levelAge further starts: the two at once first.
	for range levelAge {
		b := s.launched(at(now))
		s.land(at(now), b, at(now+500*ms), true)
	}
	if got := s.estimates().byLevel[1]; got != 0 {
		t.Fatalf("two starts at once measured %d starts ago still count: byLevel[1] = %v", levelAge, got)
	}
	if got := s.estimates().byLevel[0]; got != 500*ms {
		t.Fatalf("byLevel[0] = %v, want 500ms", got)
	}
	// Takes every 100 ms: interval 100 ms.
	for i := range takeWindow + 3 {
		s.took(at(now + time.Duration(i)*100*ms))
	}
	if got := s.estimates().interval; got != 100*ms {
		t.Fatalf("takes every 100ms: interval %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{5, 1}, 1},
		{[]time.Duration{9, 1, 5}, 5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
