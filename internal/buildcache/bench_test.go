package buildcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const (
	benchFiles = 10_000
	benchBytes = 100 << 20
)

// genContext writes a context of benchFiles files in 100 directories,
// benchBytes in total, with pseudo-random sizes and content (fixed seed),
// plus a Dockerfile and a .dockerignore.
func genContext(b *testing.B, dir string) {
	b.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	sizes := make([]int, benchFiles)
	total := 0
	for i := range sizes {
		sizes[i] = rng.IntN(2 * benchBytes / benchFiles)
		total += sizes[i]
	}
	// Spread the rounding error so the total is exact.
	for i := 0; total != benchBytes; i = (i + 1) % benchFiles {
		switch {
		case total < benchBytes:
			sizes[i]++
			total++
		case sizes[i] > 0:
			sizes[i]--
			total--
		}
	}
	buf := make([]byte, 2*benchBytes/benchFiles+benchFiles)
	for i, n := range sizes {
		d := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%100))
		if i < 100 {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		for j := 0; j < n; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < n; k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%05d.go", i)), buf[:n], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(testDockerfile), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("*.tmp\n.git\n"), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKey10kFiles measures Key on a 10,000-file, 100 MB context:
// cold (no memo: every file is read and hashed, from the page cache) and
// warm (memo loaded from its file, all files unchanged, memo saved). Both
// include what a caller does around Key: LoadMemo and Save.
func BenchmarkKey10kFiles(b *testing.B) {
	dir := b.TempDir()
	genContext(b, dir)
	// Memo entries are trusted once files are older than racyMargin.
	time.Sleep(racyMargin + 100*time.Millisecond)
	in := Input{ContextDir: dir}
	ctx := context.Background()

	run := func(b *testing.B, memoPath string) {
		m := LoadMemo(memoPath)
		if _, err := Key(ctx, in, baseIDs, m); err != nil {
			b.Fatal(err)
		}
		if err := m.Save(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("cold", func(b *testing.B) {
		memoDir := b.TempDir()
		b.SetBytes(benchBytes)
		var times []time.Duration
		cpu := cpuTime()
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			run(b, filepath.Join(memoDir, fmt.Sprintf("%d.memo", i)))
			times = append(times, time.Since(start))
		}
		reportCPU(b, cpu)
		reportMedian(b, times)
	})
	b.Run("warm", func(b *testing.B) {
		memoPath := filepath.Join(b.TempDir(), "ctx.memo")
		run(b, memoPath)
		reads := 0
		orig := openForHash
		openForHash = func(name string) (hashSource, error) {
			reads++
			return orig(name)
		}
		defer func() { openForHash = orig }()
		var times []time.Duration
		cpu := cpuTime()
		for b.Loop() {
			start := time.Now()
			run(b, memoPath)
			times = append(times, time.Since(start))
		}
		reportCPU(b, cpu)
		reportMedian(b, times)
		if reads != 0 {
			b.Fatalf("warm runs read %d files", reads)
		}
	})
}

// reportCPU reports the CPU time per iteration since start, which unlike
// the wall time does not grow when other processes compete for the CPUs.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// reportMedian reports the median wall time of the iterations, which a few
// iterations slowed down by other processes do not move, unlike ns/op.
func reportMedian(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/1e6, "median-ms")
}
