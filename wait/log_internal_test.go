package wait

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// chunks splits s at random points, sometimes into single bytes.
func chunks(r *rand.Rand, s string) []string {
	var out []string
	for len(s) > 0 {
		n := 1 + r.IntN(min(len(s), 1+r.IntN(12)))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// feedAll feeds the chunks to m, then ends the stream, and reports whether m saw as
// many matches as it wants.
func feedAll(m logMatcher, parts []string) bool {
	for _, p := range parts {
		if m.feed([]byte(p)) {
			return true
		}
	}
	return m.flush()
}

func TestSubstringMatcherAnyChunking(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	texts := []string{
		"ready to accept connections\nready to accept connections\n",
		"aaaaaaa",                   // overlapping candidates: "aa" occurs 3 times, not 6
		"abababab ab aba bab",       // self-similar needle
		"no match here at all\n",    // none
		"xready\nreadyready\rready", // adjacent occurrences
	}
	needles := []string{"ready to accept connections", "aa", "aba", "ab", "ready", "a"}
	for _, text := range texts {
		for _, sub := range needles {
			want := strings.Count(text, sub)
			for range 200 {
				parts := chunks(r, text)
				// Exactly want occurrences must be found...
				if want > 0 {
					m := &substringMatcher{sub: []byte(sub), want: want}
					if !feedAll(m, parts) {
						t.Fatalf("%q in %q split as %q: matched %d, want %d", sub, text, parts, m.count, want)
					}
				}
				// ...and not one more.
				m := &substringMatcher{sub: []byte(sub), want: want + 1}
				if feedAll(m, parts) || m.count != want {
					t.Fatalf("%q in %q split as %q: counted %d, want %d", sub, text, parts, m.count, want)
				}
			}
		}
	}
}

func TestLineMatcherAnyChunking(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	text := "LOG: starting\nLOG: listening on port 5432\r\nLOG: ready\n\nLOG: listening on port 5433\nLOG: listening on port 54"
	res := []string{`^LOG: listening on port \d+$`, `ready$`, `^$`, `port`, `starting\nLOG`}
	for _, pattern := range res {
		re := regexp.MustCompile(pattern)
		want := 0
		for _, line := range strings.Split(text, "\n") {
			if re.MatchString(strings.TrimSuffix(line, "\r")) {
				want++
			}
		}
		for range 200 {
			parts := chunks(r, text)
			m := &lineMatcher{re: re, want: want + 1}
			if feedAll(m, parts) || m.count != want {
				t.Fatalf("/%s/ split as %q: counted %d lines, want %d", pattern, parts, m.count, want)
			}
		}
	}
}

func TestLineMatcherLongLineStaysBounded(t *testing.T) {
	// A process that writes megabytes without a line break (a progress bar, binary
	// output) must not make the matcher hold it all; the line is matched in parts.
	m := &lineMatcher{re: regexp.MustCompile(`ready`), want: 1}
	chunk := []byte(strings.Repeat("y", 32<<10))
	for range 3 * maxLine / len(chunk) {
		if m.feed(chunk) {
			t.Fatal("matched a line of y")
		}
		if len(m.partial) > maxLine+len(chunk) {
			t.Fatalf("partial line grew to %d bytes", len(m.partial))
		}
	}
	if !m.feed([]byte("yyy ready\n")) {
		t.Fatal("missed the match at the end of the long line")
	}
}
