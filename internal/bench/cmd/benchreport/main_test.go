package main

import (
	"math"
	"testing"
)

func TestSummarizePercentiles(t *testing.T) {
	vs := []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}
	s := summarize(vs)
	if s.med != 5.5 || s.p90 != 9 || s.p10 != 1 || s.max != 10 || s.min != 1 || s.n != 10 {
		t.Fatalf("summarize = %+v", s)
	}
	one := summarize([]float64{3})
	if one.med != 3 || one.p90 != 3 || one.p10 != 3 {
		t.Fatalf("summarize of one value = %+v", one)
	}
	if s := summarize(nil); !math.IsNaN(s.p90) {
		t.Fatalf("summarize(nil).p90 = %v, want NaN", s.p90)
	}
}

// A target is met only when the median meets it and the p90 is within 10% of it.
func TestMeetsRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vs        []float64
		bound     float64
		strict    bool
		wantUpper bool
	}{
		{"all under", []float64{0.9, 0.95, 1.0, 1.01, 1.02}, 1.05, false, true},
		{"median meets, p90 within 10%", []float64{1.0, 1.0, 1.0, 1.0, 1.15}, 1.05, false, true},
		{"median meets, p90 over by more than 10%", []float64{1.0, 1.0, 1.0, 1.0, 1.2}, 1.05, false, false},
		{"median misses", []float64{1.06, 1.07, 1.08}, 1.05, false, false},
		{"strict bound at the median", []float64{30, 30, 30}, 30, true, false},
		{"warm key: median 28.5, max 31.9 of 10", []float64{25, 26, 27, 28, 28.5, 28.5, 29, 29.5, 30.5, 31.9}, 30, true, true},
		{"warm key: p90 34", []float64{25, 26, 27, 28, 28.5, 28.5, 29, 29.5, 34, 35}, 30, true, false},
		{"difference bound", []float64{-10, 5, 12, 18, 21}, 20, false, true},
	} {
		if got := meetsUpper(summarize(tc.vs), tc.bound, tc.strict); got != tc.wantUpper {
			t.Errorf("%s: meetsUpper = %v, want %v", tc.name, got, tc.wantUpper)
		}
	}
	if !meetsLower(summarize([]float64{20, 21, 19.5, 9.5}), 10) {
		t.Error("meetsLower: a p10 of 9.5 is within 10% of 10")
	}
	if meetsLower(summarize([]float64{20, 21, 19.5, 5}), 10) {
		t.Error("meetsLower: a p10 of 5 is not within 10% of 10")
	}
}
