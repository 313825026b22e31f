// Command benchreport turns the output of the benchmarks in internal/bench into
// BENCHMARKS.md and an SVG bar chart of the ratios. scripts/bench.sh runs it:
//
//	go run ./cmd/benchreport -in results.txt -md BENCHMARKS.md -svg docs/bench-chart.svg \
//		-notes notes.md -benchstat benchstat.txt
//
// The input is Go benchmark format: "key: value" configuration lines (engine, go, cpus,
// load, ...) and result lines whose metrics are "<implementation>-ms" medians, as the
// benchmarks report them (one line per -count round). Every figure in the report is
// the median over the rounds with the p90 and max beside it; a ratio is the median of the
// per-round ratios (the implementations ran interleaved, so each round is a pair).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "", "benchmark output to read (default stdin)")
	md := flag.String("md", "BENCHMARKS.md", "markdown report to write")
	svg := flag.String("svg", "docs/bench-chart.svg", "SVG chart to write")
	notes := flag.String("notes", "", "markdown to append to the report (hand-written analysis)")
	bstat := flag.String("benchstat", "", "benchstat output to include (optional)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchreport: ")

	r := io.Reader(os.Stdin)
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		r = f
	}
	res, err := parse(r)
	if err != nil {
		log.Fatal(err)
	}
	if len(res.benches) == 0 {
		log.Fatal("no benchmark results in the input")
	}
	rows := chartRows(res)
	svgRel := *svg
	if rel, err := filepath.Rel(filepath.Dir(*md), *svg); err == nil {
		svgRel = filepath.ToSlash(rel)
	}
	var extra []section
	if *bstat != "" {
		b, err := os.ReadFile(*bstat)
		if err != nil {
			log.Fatal(err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			extra = append(extra, section{"benchstat", "The same results as benchstat summarises them (median and 95% confidence interval per metric; `-ms` metrics are milliseconds, `a/b` metrics are per-round ratios).\n\n<details><summary>benchstat output</summary>\n\n```text\n" + s + "\n```\n\n</details>\n"})
		}
	}
	if *notes != "" {
		b, err := os.ReadFile(*notes)
		if err != nil {
			log.Fatal(err)
		}
		extra = append(extra, section{"", strings.TrimSpace(string(b)) + "\n"})
	}
	if err := os.WriteFile(*md, []byte(markdown(res, rows, svgRel, extra)), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(*svg), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*svg, []byte(chart(rows)), 0o644); err != nil {
		log.Fatal(err)
	}
}

// results is everything read from the benchmark output.
type results struct {
	config  map[string]string // first value of each configuration key
	loads   map[string][]string
	order   []string // benchmark names in order of appearance
	benches map[string]*bench
}

// A bench is one benchmark's rounds.
type bench struct {
	name   string
	rounds []map[string]float64 // metric unit -> value, one map per result line
	loads  []string             // machine load noted before the benchmark ran
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads Go benchmark format.
func parse(r io.Reader) (*results, error) {
	res := &results{config: map[string]string{}, loads: map[string][]string{}, benches: map[string]*bench{}}
	var load string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := configLine(line); ok {
			if k == "load" {
				load = v
				continue
			}
			if _, seen := res.config[k]; !seen {
				res.config[k] = v
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(procSuffix.ReplaceAllString(f[0], ""), "Benchmark")
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parse %q: %w", line, err)
			}
			m[f[i+1]] = v
		}
		b := res.benches[name]
		if b == nil {
			b = &bench{name: name}
			res.benches[name] = b
			res.order = append(res.order, name)
		}
		b.rounds = append(b.rounds, m)
		if load != "" && !slices.Contains(b.loads, load) {
			b.loads = append(b.loads, load)
		}
	}
	return res, sc.Err()
}

var configRE = regexp.MustCompile(`^([a-z][A-Za-z0-9_-]*): (.*)$`)

// configLine recognises a "key: value" configuration line of the benchmark format.
func configLine(line string) (k, v string, ok bool) {
	m := configRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(m[2]), true
}

// values returns the unit's value in every round that has it.
func (b *bench) values(unit string) []float64 {
	var vs []float64
	for _, r := range b.rounds {
		if v, ok := r[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// impls returns the implementation names that have a "-ms" metric, in a fixed order.
func (b *bench) impls() []string {
	seen := map[string]bool{}
	for _, r := range b.rounds {
		for u := range r {
			if n, ok := strings.CutSuffix(u, "-ms"); ok {
				seen[n] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, c string) int {
		if d := implRank(a) - implRank(c); d != 0 {
			return d
		}
		return strings.Compare(a, c)
	})
	return names
}

// implRank orders ours, raw, testcontainers-go, then anything else.
func implRank(n string) int {
	switch {
	case strings.HasPrefix(n, "ours"):
		return 0
	case strings.HasPrefix(n, "raw"):
		return 1
	case strings.HasPrefix(n, "tc"):
		return 2
	}
	return 3
}

// stat is a median with its spread: the 10th and 90th percentiles (nearest rank) and
// the range.
type stat struct {
	med, p10, p90, min, max float64
	n                       int
}

func summarize(vs []float64) stat {
	if len(vs) == 0 {
		return stat{med: math.NaN(), p10: math.NaN(), p90: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{med: med, p10: percentile(s, 10), p90: percentile(s, 90), min: s[0], max: s[n-1], n: n}
}

// percentile is the nearest-rank p-th percentile of the sorted values s.
func percentile(s []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// The rule by which a target counts as met: the median meets it, and the p90 (for an
// upper bound; the p10 for a lower bound) is within 10% of it, so that a target met by
// the median alone while one round in ten misses it by more is not called met.
const spreadSlack = 0.10

// meetsUpper applies the rule to an upper bound: median ≤ bound, p90 ≤ bound + 10%.
// For a bound near zero (or below it) the slack is 10% of its magnitude.
func meetsUpper(s stat, bound float64, strict bool) bool {
	med := s.med <= bound
	if strict {
		med = s.med < bound
	}
	return med && s.p90 <= bound+spreadSlack*math.Abs(bound)
}

// meetsLower applies the rule to a lower bound: median ≥ bound, p10 ≥ bound − 10%.
func meetsLower(s stat, bound float64) bool {
	return s.med >= bound && s.p10 >= bound-spreadSlack*math.Abs(bound)
}

// ratio compares implementation a with b. The implementations ran interleaved, one
// sample each per round, so the rounds are pairs under the same machine load: value
// is the median of the per-round ratios (paired, robust to load that drifts between
// rounds), lo and hi their range, and ofMedians the ratio of the two medians.
type ratio struct {
	a, b         string
	value        float64
	lo, hi       float64
	per          stat // the per-round ratios
	ofMedians    float64
	aStat, bStat stat
}

func (bn *bench) ratio(a, b string) (ratio, bool) {
	as, bs := summarize(bn.values(a+"-ms")), summarize(bn.values(b+"-ms"))
	if as.n == 0 || bs.n == 0 || bs.med <= 0 {
		return ratio{}, false
	}
	var per []float64
	for _, r := range bn.rounds {
		x, ok1 := r[a+"-ms"]
		y, ok2 := r[b+"-ms"]
		if ok1 && ok2 && y > 0 {
			per = append(per, x/y)
		}
	}
	ps := summarize(per)
	if ps.n == 0 {
		return ratio{}, false
	}
	return ratio{a: a, b: b, value: ps.med, lo: ps.min, hi: ps.max, per: ps, ofMedians: as.med / bs.med, aStat: as, bStat: bs}, true
}

// diff is the median (and range) of the per-round differences a − b, in ms.
func (bn *bench) diff(a, b string) (stat, bool) {
	var per []float64
	for _, r := range bn.rounds {
		x, ok1 := r[a+"-ms"]
		y, ok2 := r[b+"-ms"]
		if ok1 && ok2 {
			per = append(per, x-y)
		}
	}
	s := summarize(per)
	return s, s.n > 0
}

// A figure names a benchmark for readers.
type figure struct {
	bench, title, what string
}

var figures = []figure{
	{"Start", "Start to ready", "A busybox httpd (port 8080 published on 127.0.0.1, random host port) from the first call until it is ready; teardown not measured. Ours: `Image(...).Cmd(...).Expose(...).WaitFor(wait.ForPort(...)).Run`; ours (http): the same with `wait.ForHTTP(\"/\")` (any status), which proves readiness the way raw does and so separates the port wait from the rest of the start. Raw: ContainerCreate, ContainerStart, ContainerInspect, then an HTTP request every millisecond until one is answered. testcontainers-go: `GenericContainer` with `wait.ForListeningPort`."},
	{"FirstStart", "First start in a new process", "The same busybox httpd as Start, started as the first thing a fresh process of the benchmark binary does, one new process per implementation and round, so that what every package's test binary pays once is counted (Start's warm-up leaves it out). The clock starts before the process touches the engine; process start-up, the same for all, is not counted. Ours: engine resolution and ping, the watchdog process, the sweep of dead sessions, the event stream, then `Run` with `wait.ForPort`. Raw: `client.NewClientWithOpts(FromEnv, WithAPIVersionNegotiation)`, then create, start, inspect and the HTTP probe. testcontainers-go: its first `GenericContainer` with `wait.ForListeningPort` (reaper off, as everywhere here)."},
	{"Teardown", "Teardown of a process that ignores SIGTERM", "`sh -c 'trap \"\" TERM; while true; do sleep 1; done'`, started unmeasured. Ours: `Terminate`. Raw: ContainerRemove with Force and RemoveVolumes. testcontainers-go: `Terminate` (stop with its default grace period, then remove)."},
	{"BuildStart", "Repeated start of a Dockerfile-built image", "An unchanged build context whose Dockerfile has a `RUN sleep 3` step, started again and again until ready; teardown not measured. Ours: `Build(dir)...Run` with `wait.ForPort`; ours (http): with `wait.ForHTTP`. Raw: ImageBuild once before, then create, start, inspect, HTTP probe. testcontainers-go: `FromDockerfile` (its Terminate removes the built image, so it builds every time)."},
	{"WaitLatency", "Wait latency", "From the moment the process inside starts listening or logs its line (taken by the process itself, a static Go binary in a FROM scratch image that becomes ready after a random 200–500 ms) until the start call returns. Negative: the strategy reported ready before the process was. Ours: `wait.ForPort`, `wait.ForLog`; ours (proxied): `wait.ForPort` with the container's socket table hidden, as on Docker Desktop or a remote or rootless engine, where it is out of reach; testcontainers-go: `wait.ForListeningPort`, `wait.ForLog`. The raw rows are floors: raw (port) polls the container's socket table in `/proc/<pid>/net/tcp*` every millisecond (exact, local engines only); raw (log) follows the engine's log stream."},
	{"Parallel", "10 containers in parallel", "Ten busybox httpds started at once, each waited for on its port, until the last is ready; teardown not measured. Ours: `RunAll` (`StartAll` without a test; it starts at most `DefaultMaxParallelStarts`, 8, at once); ours-goroutines: 10 goroutines calling `Run`. Raw: errgroup of 10 × (create, start, inspect, HTTP probe). testcontainers-go: `ParallelContainers` with 10 workers."},
	{"Builders", "Builds through BuildKit and the classic builder", "The nginx image of the webstack example (`examples/webstack/testdata/nginx`: nginx installed with apt-get from Debian's packages, then its configuration copied and checked), built and started until nginx listens; teardown not measured. Cold: each build gets a fresh copy of the context whose Dockerfile declares a build arg with a new value per build (no RUN step finds a cached layer) and gives the apt cache mounts ids of their own (apt finds them empty, as on a machine's first build). Ours (buildkit-cold): `containers.Build` with `CONTAINERTEST_BUILDER=buildkit` on the examples' Dockerfile. Ours (classic-cold): `CONTAINERTEST_BUILDER=classic`, and testcontainers-go (tc-cold): `FromDockerfile`, both on a copy of that Dockerfile without the cache mounts, which the classic builder cannot build (and without the step that keeps apt's downloads for them). Rebuild: a line appended to the site's configuration (copied after the apt step) in each implementation's own context, then build and start. Ours (rebuild): `containers.Build` through BuildKit with the cache mounts; ours (rebuild-nomount): the same without them; raw (rebuild): `ImageBuild` with version 2 (BuildKit; the docker CLI here has no buildx), create, start, inspect and a poll of the container's socket table until nginx listens (the floor of ours' port wait). The rebuilds' apt layers were built by an unmeasured warm-up."},
	{"BuildKey", "Build cache key, 10,000 files / 100 MB", "Ours only: `internal/buildcache` key of a 10,000-file, 100 MB context, as `Build` computes it in a new test process (load the stat memo file, compute the key, save the memo). Cold: no memo yet (every file read and hashed; the files are in the page cache). Warm: the memo of an earlier run. Warm-newproc: the same, timed inside a new process of the benchmark binary (process start-up not counted), whose heap is fresh. Warm-inproc: the memo already loaded (a second `Build` of the context in one process). Memo-load: loading the memo file alone (warm ≈ memo-load + warm-inproc). Walk, for reference: a plain sequential `filepath.WalkDir` with an lstat per entry."},
	{"Pool", "20 sequential tests, each with a fresh busybox httpd", "A suite of 20 tests run one after the other, each needing a fresh busybox httpd (port waited for) and doing 200 ms of work of its own (one HTTP request, then waiting out the rest), from the first start to the last removal. Pool: `containers.NewPool(spec, 2)`, made anew for each run (its first start is inside the figure), `Take` per test, the work, `Terminate` in the background as `Get`'s cleanup does, `Close` at the end. Pool-auto: the same with `containers.NewPool(spec, 0)`, a pool that sizes itself to its start time and the pace of its takes, starting each run knowing nothing. Plain: `Run`, the work, `Terminate`, per test. testcontainers-go: `GenericContainer` with `wait.ForListeningPort`, the work, `TerminateContainer` with its defaults (a stop with a 10 s grace period: the httpd runs as PID 1 and ignores SIGTERM, so each teardown waits it out, as in Teardown). Floor: the tests' own work plus one start (one `Run`, 20 × the work, one `Terminate`): what a pool could at best come down to."},
	{"Reuse", "Second `go test` of the PostgreSQL example", "Container overhead of a new test process that needs the PostgreSQL example's server: a new process of the benchmark binary runs `postgres.TemplateServerSpec().Run` and connects (pgx ping); the clock runs from the first call until the connection answers (process start-up not counted). Reuse: `Spec.Reuse`, the server left by the warm-up run is found by its configuration hash under the cross-process lock. Fresh: the same spec under `CONTAINERTEST_REUSE=off`: a new server, initdb included (its teardown is not measured)."},
	{"FreshDatabase", "Fresh PostgreSQL database per test", "What a test pays for a migrated database of its own until a connection to it answers. Database: `postgres.Template.Fresh` on the shared, reused server, which clones `postgres.Ahead` (3) databases ahead in the background with `CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY` from a template migrated once, so a test waits only for a connection when the tests before it lasted at least one clone (here the other implementations run in between, so it always finds one ready); the databases are dropped at the end, unmeasured. Clone: the clone itself and a connection, what `Fresh` costs when tests come faster than clones. Container: a fresh server per test (`postgres.Spec().Run`, initdb included), a connection and the same migration; teardown not measured."},
	{"Compose", "Compose stacks up to ready, then down", "Two Compose files with the same prebuilt images (named by `image:`, so neither side builds): web: the tutorial's stack (examples/tutorial: nginx from Debian's packages publishing port 80, and Redis); health: three services, each gated on the previous one's health check (Redis, a busybox httpd, nginx). The figure is up-to-ready plus down; -up and -down split it. Ours: `compose.File(...).Run` (ready: published ports accept connections, health checks pass), then `Stack.Down`. docker-compose (1.29, Debian's; it has no `--wait`): `up -d`, then the engine polled every 50 ms until every container of the project runs, every health check reports healthy and the web page answers; then `down -v`. testcontainers-go's compose module was not measured: it would pull docker/compose v5 and its many indirect modules into the benchmark module."},
	{"Suite", "Example suites end to end", "The four example packages (postgres, migrations, webstack, nginx: PostgreSQL, Redis, a Flask app and nginx installed from Debian's packages by the examples' Dockerfiles) as a user runs them, against the same suites written with testcontainers-go (`internal/bench/tcsuite`: same tests, same assertions, same Dockerfiles and test data). Both suites' test binaries are compiled once beforehand (`go test -c`); a run starts each implementation's four binaries as fresh processes, one package after the other (tests inside a package in parallel, as `go test` runs them), and the figure is the wall time from the first start to the last exit. Ours builds through its build cache, which outlives processes: it was filled by an unmeasured warm-up run (ours (cold), when present: that warm-up had to build the images, as on a machine's first run or after a build context changed). testcontainers-go builds an image on every start (`FromDockerfile`) and removes it at `Terminate`. The rows per package are the same runs split by package. There is no raw Docker API implementation of a suite, so the only ratio is ours/testcontainers-go."},
}

// A target is a goal from the issues, checked against one run. A target whose goal
// is "–" is a reference figure that helps explain another.
type target struct {
	bench, label, goal string
	check              func(b *bench) (measured string, met bool, ok bool)
}

func (t target) info() bool { return t.goal == "–" }

func ratioTarget(bn, a, b string, max float64) func(*bench) (string, bool, bool) {
	return func(x *bench) (string, bool, bool) {
		r, ok := x.ratio(a, b)
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.3fx (p90 %.2f, max %.2f)", r.value, r.per.p90, r.hi), meetsUpper(r.per, max, false), true
	}
}

func msTarget(impl string, max float64) func(*bench) (string, bool, bool) {
	return func(x *bench) (string, bool, bool) {
		s := summarize(x.values(impl + "-ms"))
		if s.n == 0 {
			return "", false, false
		}
		return fmt.Sprintf("%s ms (p90 %s, max %s)", num(s.med), num(s.p90), num(s.max)), meetsUpper(s, max, true), true
	}
}

var targets = []target{
	{"Start", "start to ready, ours/raw", "≤ 1.05x", ratioTarget("Start", "ours", "raw", 1.05)},
	{"Start", "start: reported ready before the server answered (ours)", "never", earlyTarget("ours")},
	{"Start", "start to ready with ForHTTP instead of ForPort, ours/raw (attribution)", "–", ratioTarget("Start", "ours-http", "raw", math.Inf(1))},
	{"FirstStart", "first start in a new process, ours − raw", "≤ 30 ms", diffTarget("ours", "raw", 30)},
	{"FirstStart", "first start in a new process, ours/testcontainers-go", "–", ratioTarget("FirstStart", "ours", "tc", math.Inf(1))},
	{"Teardown", "teardown of a SIGTERM-ignoring process, ours/raw", "≤ 1.10x", ratioTarget("Teardown", "ours", "raw", 1.10)},
	{"BuildStart", "cached rebuild + start, testcontainers-go/ours", "≥ 10x", func(x *bench) (string, bool, bool) {
		r, ok := x.ratio("tc", "ours")
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.1fx (p10 %.1f, min %.1f)", r.value, r.per.p10, r.lo), meetsLower(r.per, 10), true
	}},
	{"BuildStart", "cached rebuild + start, testcontainers-go with KeepImage (its fairest configuration)/ours", "–", func(x *bench) (string, bool, bool) {
		r, ok := x.ratio("tc-keep", "ours")
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.1fx (p10 %.1f, min %.1f)", r.value, r.per.p10, r.lo), true, true
	}},
	{"BuildStart", "cached rebuild + start, ours − raw start", "≤ 20 ms", diffTarget("ours", "raw", 20)},
	{"BuildStart", "cached rebuild + start with ForHTTP, ours − raw start (attribution)", "–", diffTarget("ours-http", "raw", math.Inf(1))},
	{"WaitLatency", "wait latency, ForPort (ours)", "0 ≤ median < 10 ms", func(x *bench) (string, bool, bool) {
		m, met, ok := msTarget("ours-port", 10)(x)
		s := summarize(x.values("ours-port-ms"))
		return m, met && s.med >= 0, ok
	}},
	{"WaitLatency", "wait latency, ForLog (ours)", "0 ≤ median < 10 ms", func(x *bench) (string, bool, bool) {
		m, met, ok := msTarget("ours-log", 10)(x)
		s := summarize(x.values("ours-log-ms"))
		return m, met && s.med >= 0, ok
	}},
	{"WaitLatency", "ForPort reported ready before the process listened (ours)", "never", negativeTarget("ours-port")},
	{"WaitLatency", "wait latency, ForPort through the proxy only, as where the container's socket table is out of reach (ours)", "–", msTarget("ours-proxied", math.Inf(1))},
	{"WaitLatency", "ForListeningPort reported ready before the process listened (testcontainers-go, for comparison)", "–", negativeTarget("tc-port")},
	{"Parallel", "10 in parallel, ours/raw", "≤ 1.10x", ratioTarget("Parallel", "ours", "raw", 1.10)},
	{"Builders", "rebuild after a one-line app change, start included, ours/raw (BuildKit both)", "≤ 1.10x", ratioTarget("Builders", "ours-rebuild", "raw-rebuild", 1.10)},
	{"Builders", "rebuild after a one-line app change, with the apt cache mount/without", "–", ratioTarget("Builders", "ours-rebuild", "ours-rebuild-nomount", math.Inf(1))},
	{"Builders", "cold build + start, BuildKit/classic builder (ours both)", "–", ratioTarget("Builders", "ours-buildkit-cold", "ours-classic-cold", math.Inf(1))},
	{"Builders", "cold build + start, ours through BuildKit/testcontainers-go FromDockerfile", "–", ratioTarget("Builders", "ours-buildkit-cold", "tc-cold", math.Inf(1))},
	{"Builders", "cold build + start, ours through the classic builder/testcontainers-go FromDockerfile", "–", ratioTarget("Builders", "ours-classic-cold", "tc-cold", math.Inf(1))},
	{"BuildKey", "build cache key, warm", "< 30 ms", msTarget("warm", 30)},
	{"BuildKey", "build cache key, warm, in a new process (fresh heap)", "< 30 ms", msTarget("warm-newproc", 30)},
	{"BuildKey", "build cache key, warm ÷ bare walk (for reference)", "–", func(x *bench) (string, bool, bool) {
		r, ok := x.ratio("warm", "walk")
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.2fx (p90 %.2f, max %.2f)", r.value, r.per.p90, r.hi), true, true
	}},
	{"Pool", "20 sequential tests, pool ÷ (the tests' own work + one start)", "≤ 1.20x", ratioTarget("Pool", "pool", "floor", 1.20)},
	{"Pool", "20 sequential tests, self-sizing pool ÷ (the tests' own work + one start)", "≤ 1.20x", ratioTarget("Pool", "pool-auto", "floor", 1.20)},
	{"Pool", "20 sequential tests, pool/plain Start", "–", ratioTarget("Pool", "pool", "plain", math.Inf(1))},
	{"Pool", "20 sequential tests, pool/testcontainers-go", "–", ratioTarget("Pool", "pool", "tc", math.Inf(1))},
	{"Reuse", "second go test of the PostgreSQL example, container overhead with Reuse", "< 100 ms", msTarget("reuse", 100)},
	{"Reuse", "second go test of the PostgreSQL example, with Reuse/without", "–", ratioTarget("Reuse", "reuse", "fresh", math.Inf(1))},
	{"FreshDatabase", "fresh database per test from a template (median)", "< 50 ms", msTarget("database", 50)},
	{"FreshDatabase", "fresh database per test/fresh container per test", "–", ratioTarget("FreshDatabase", "database", "container", math.Inf(1))},
	{"FreshDatabase", "fresh database per test when tests come faster than clones: the clone itself (median)", "–", msTarget("clone", math.Inf(1))},
	{"Compose", "tutorial's stack (web + redis), up to ready and down, ours/docker-compose", "–", ratioTarget("Compose", "ours-web", "dc-web", math.Inf(1))},
	{"Compose", "3-service stack gated on health checks, up to ready and down, ours/docker-compose", "–", ratioTarget("Compose", "ours-health", "dc-health", math.Inf(1))},
	{"Compose", "tutorial's stack, up to ready, ours/docker-compose", "–", ratioTarget("Compose", "ours-web-up", "dc-web-up", math.Inf(1))},
	{"Compose", "3-service health-gated stack, up to ready, ours/docker-compose", "–", ratioTarget("Compose", "ours-health-up", "dc-health-up", math.Inf(1))},
	{"Suite", "example suites end to end, ours/testcontainers-go with KeepImage (its fairest configuration)", "–", ratioTarget("Suite", "ours", "tc-keep", math.Inf(1))},
	{"Suite", "example suites from a cold cache, ours (first run: images built) against testcontainers-go with KeepImage (first run)", "–", func(x *bench) (string, bool, bool) {
		o, t := summarize(x.values("ours-cold-ms")), summarize(x.values("tc-cold-ms"))
		if o.n == 0 || t.n == 0 {
			return "", false, false
		}
		return fmt.Sprintf("ours %.0f s, testcontainers-go %.0f s: %.3fx (one warm-up each)", o.med/1000, t.med/1000, o.med/t.med), true, true
	}},
	{"Suite", "example suites end to end, ours/testcontainers-go (there is no raw implementation of a suite)", "–", func(x *bench) (string, bool, bool) {
		r, ok := x.ratio("ours", "tc")
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.3fx (p90 %.3f, max %.3f, %d rounds): testcontainers-go takes %.1fx as long", r.value, r.per.p90, r.hi, r.per.n, 1/r.value), true, true
	}},
}

// diffTarget checks the median per-round difference a − b against max ms.
func diffTarget(a, b string, max float64) func(*bench) (string, bool, bool) {
	return func(x *bench) (string, bool, bool) {
		d, ok := x.diff(a, b)
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%+.1f ms (p90 %+.1f, max %+.1f)", d.med, d.p90, d.max), meetsUpper(d, max, false), true
	}
}

// negativeTarget counts the rounds in which a latency was negative: the strategy
// reported ready before the process was.
func negativeTarget(impl string) func(*bench) (string, bool, bool) {
	return func(x *bench) (string, bool, bool) {
		vs := x.values(impl + "-ms")
		if len(vs) == 0 {
			return "", false, false
		}
		neg := 0
		for _, v := range vs {
			if v < 0 {
				neg++
			}
		}
		return fmt.Sprintf("%d of %d waits", neg, len(vs)), neg == 0, true
	}
}

func earlyTarget(impl string) func(*bench) (string, bool, bool) {
	return func(x *bench) (string, bool, bool) {
		vs := x.values(impl + "-early")
		if len(vs) == 0 {
			return "", false, false
		}
		var sum float64
		for _, v := range vs {
			sum += v
		}
		frac := sum / float64(len(vs))
		return fmt.Sprintf("%.0f%% of starts", 100*frac), frac == 0, true
	}
}

// num formats a millisecond figure with sensible precision.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

type section struct{ title, body string }

func markdown(res *results, rows []chartRow, svgRel string, extra []section) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Benchmarks\n\n")
	p("Generated by `scripts/bench.sh` on %s from the benchmarks in `internal/bench` (a module of its own, so that testcontainers-go never reaches the library's users). Do not edit by hand: the analysis at the end comes from `internal/bench/notes.md`.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("Every figure of a benchmark is measured within one `go test -bench` run in which the implementations take turns: each round runs every implementation once, in rotating order, so that the samples of one round were taken under the same machine load (where the environment's samples line gives a benchmark more than one sample per round, a round runs every implementation that many times, interleaved, and its figure per implementation is the median of them). A figure is the median over the rounds, with the 90th percentile (nearest rank) and the maximum beside it. A ratio (or difference) is paired: the median of the per-round ratios, with their p90 and max; the ratio of the two medians is given beside it in the tables.\n\n")
	p("A target is **met** only when the median meets it and the p90 (for a lower bound such as \"≥ 10x\", the p10) is within 10%% of it; a median that meets a target while the p90 misses it by more is reported as not met.\n\n")

	p("## Environment\n\n| | |\n|---|---|\n")
	for _, k := range []string{"library", "engine", "storage", "go", "cpu", "cpus", "goos", "goarch", "testcontainers-go", "started", "load-start", "load-end", "count", "samples", "rerun"} {
		if v, ok := res.config[k]; ok {
			p("| %s | %s |\n", k, v)
		}
	}
	p("\n")

	p("## Against the targets\n\n| figure | target | measured | met |\n|---|---|---|---|\n")
	for _, t := range targets {
		b := res.benches[t.bench]
		if b == nil {
			p("| %s | %s | not measured | – |\n", t.label, t.goal)
			continue
		}
		m, met, ok := t.check(b)
		if !ok {
			p("| %s | %s | not measured | – |\n", t.label, t.goal)
			continue
		}
		verdict := yesNo(met)
		if t.info() {
			verdict = "–"
		}
		p("| %s | %s | %s | %s |\n", t.label, t.goal, m, verdict)
	}
	p("\n![Ratios of ours to the raw Docker API and to testcontainers-go](%s)\n\n", svgRel)

	p("## Figures\n\n")
	for _, f := range figures {
		b := res.benches[f.bench]
		p("### %s\n\n%s\n\n", f.title, f.what)
		if b == nil {
			p("Not measured in this run.\n\n")
			continue
		}
		if len(b.loads) > 0 {
			p("Load average (1, 5, 15 min) when it started: %s.\n\n", strings.Join(b.loads, "; "))
		}
		p("| implementation | median ms | p90 ms | max ms | min ms | rounds |\n|---|---:|---:|---:|---:|---:|\n")
		for _, n := range b.impls() {
			s := summarize(b.values(n + "-ms"))
			p("| %s | %s | %s | %s | %s | %d |\n", implName(n), num(s.med), num(s.p90), num(s.max), num(s.min), s.n)
		}
		p("\n")
		var rs []ratio
		for _, pair := range [][2]string{{"ours", "raw"}, {"ours", "tc"}, {"ours", "tc-keep"}, {"ours-cold", "tc-cold"}, {"ours-http", "raw"}, {"ours", "ours-http"}, {"ours-port", "raw-port"}, {"ours-port", "tc-port"}, {"ours-port", "tc-port-sh"}, {"ours-log", "raw-log"}, {"ours-log", "tc-log"}} {
			if r, ok := b.ratio(pair[0], pair[1]); ok && r.aStat.med > 0 {
				rs = append(rs, r)
			}
		}
		// Any other "ours-X" that has a testcontainers-go twin "tc-X" (the packages of
		// the Suite benchmark).
		for _, n := range b.impls() {
			x, ok := strings.CutPrefix(n, "ours-")
			if !ok || slices.ContainsFunc(rs, func(r ratio) bool { return r.a == n }) {
				continue
			}
			if r, ok := b.ratio(n, "tc-"+x); ok && r.aStat.med > 0 {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			p("| ratio | median of per-round ratios | p90 | max | min | ratio of medians |\n|---|---:|---:|---:|---:|---:|\n")
			for _, r := range rs {
				p("| %s / %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", r.a, r.b, r.value, r.per.p90, r.hi, r.lo, r.ofMedians)
			}
			p("\n")
		}
		for _, n := range b.impls() {
			if vs := b.values(n + "-early"); len(vs) > 0 {
				var sum float64
				for _, v := range vs {
					sum += v
				}
				p("%s reported ready before the server answered in %.0f%% of starts.\n\n", implName(n), 100*sum/float64(len(vs)))
			}
		}
	}
	for _, s := range extra {
		if s.title != "" {
			p("## %s\n\n", s.title)
		}
		p("%s\n", s.body)
	}
	return w.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// implName spells out an implementation's short name: "tc-port" is
// "testcontainers-go (port)".
func implName(n string) string {
	who, what, _ := strings.Cut(n, "-")
	switch who {
	case "ours":
	case "raw":
		who = "raw Docker API"
	case "tc":
		who = "testcontainers-go"
	case "dc":
		who = "docker-compose"
	default:
		return n
	}
	if what != "" {
		return who + " (" + what + ")"
	}
	return who
}

// A chartRow is one bar: a ratio of ours to another implementation.
type chartRow struct {
	label  string
	value  float64
	lo, hi float64
	vsTC   bool
	target float64 // 0: none
	// against names the other implementation when it is neither raw nor
	// testcontainers-go (docker-compose).
	against string
}

func chartRows(res *results) []chartRow {
	var rows []chartRow
	add := func(bn, label, a, b string, vsTC bool, tgt float64) bool {
		x := res.benches[bn]
		if x == nil {
			return false
		}
		r, ok := x.ratio(a, b)
		if !ok || r.value <= 0 || r.lo <= 0 {
			return false
		}
		rows = append(rows, chartRow{label: label, value: r.value, lo: r.lo, hi: r.hi, vsTC: vsTC, target: tgt})
		return true
	}
	add("Start", "start to ready", "ours", "raw", false, 1.05)
	add("Start", "start to ready", "ours", "tc", true, 0)
	add("Start", "start, ForHTTP wait", "ours-http", "raw", false, 0)
	add("Teardown", "teardown, SIGTERM ignored", "ours", "raw", false, 1.10)
	add("Teardown", "teardown, SIGTERM ignored", "ours", "tc", true, 0)
	add("BuildStart", "cached rebuild + start", "ours", "raw", false, 0)
	add("BuildStart", "cached rebuild + start (testcontainers-go default)", "ours", "tc", true, 0.10)
	add("BuildStart", "cached rebuild + start (testcontainers-go KeepImage)", "ours", "tc-keep", true, 0)
	add("Builders", "rebuild after a one-line change", "ours-rebuild", "raw-rebuild", false, 1.10)
	add("Builders", "cold build + start (ours BuildKit)", "ours-buildkit-cold", "tc-cold", true, 0)
	add("Parallel", "10 in parallel", "ours", "raw", false, 1.10)
	add("Parallel", "10 in parallel", "ours", "tc", true, 0)
	add("WaitLatency", "wait latency, log", "ours-log", "tc-log", true, 0)
	add("WaitLatency", "wait latency, port", "ours-port", "tc-port", true, 0)
	add("Suite", "example suites end to end (testcontainers-go default)", "ours", "tc", true, 0)
	add("Suite", "example suites end to end (testcontainers-go KeepImage)", "ours", "tc-keep", true, 0)
	add("Suite", "example suites from a cold cache, ours-cold/tc-cold", "ours-cold", "tc-cold", true, 0)
	add("Pool", "20 sequential tests, pool/testcontainers-go", "pool", "tc", true, 0)
	add("FirstStart", "first start in a new process", "ours", "raw", false, 0)
	add("FirstStart", "first start in a new process", "ours", "tc", true, 0)
	add("WaitLatency", "wait latency, port (shell image)", "ours-port", "tc-port-sh", true, 0)
	for _, c := range []struct{ label, a, b string }{
		{"compose up + down, tutorial's stack", "ours-web", "dc-web"},
		{"compose up + down, 3 services gated on health", "ours-health", "dc-health"},
	} {
		if add("Compose", c.label, c.a, c.b, false, 0) {
			rows[len(rows)-1].against = "docker-compose"
		}
	}
	return rows
}

// chart draws the ratios as horizontal bars on a log scale around 1 (left of 1: ours
// is faster), each with a dot at its value, the per-round range as a whisker, and
// targets as red ticks.
func chart(rows []chartRow) string {
	const (
		left, right = 350.0, 70.0
		top         = 56.0
		rowH        = 30.0
		width       = 1000.0
	)
	lo, hi := 1.0, 1.0
	for _, r := range rows {
		lo = min(lo, r.value, r.lo)
		hi = max(hi, r.value, r.hi)
		if r.target > 0 {
			lo, hi = min(lo, r.target), max(hi, r.target)
		}
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)+1e-9))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)-1e-9))
	if hi/lo < 10 {
		hi = lo * 10
	}
	plotW := width - left - right
	x := func(v float64) float64 {
		return left + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	height := top + rowH*float64(max(len(rows), 1)) + 60
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p(`<text x="%.0f" y="22" font-size="16" font-weight="bold">containertest: time of ours ÷ time of the other (log scale; left of 1 = ours faster)</text>`+"\n", 10.0)
	p(`<rect x="%.0f" y="32" width="12" height="12" fill="#3b6fb6"/><text x="%.0f" y="43">vs raw Docker API</text>`+"\n", left, left+18)
	p(`<rect x="%.0f" y="32" width="12" height="12" fill="#e08a2c"/><text x="%.0f" y="43">vs testcontainers-go</text>`+"\n", left+160, left+178)
	p(`<line x1="%.0f" y1="36" x2="%.0f" y2="46" stroke="#c00" stroke-width="3"/><text x="%.0f" y="43">target</text>`+"\n", left+340, left+340, left+348)
	bottom := top + rowH*float64(len(rows))
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > hi*1.0001 {
				break
			}
			stroke := "#ddd"
			if m == 1 {
				stroke = "#bbb"
			}
			p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s"/>`+"\n", x(v), top-4, x(v), bottom, stroke)
			p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%sx</text>`+"\n", x(v), bottom+16, trimFloat(v))
		}
	}
	p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#000" stroke-width="1.5"/>`+"\n", x(1), top-6, x(1), bottom+2)
	for i, r := range rows {
		y := top + rowH*float64(i)
		color, who := "#3b6fb6", "raw"
		if r.vsTC {
			color, who = "#e08a2c", "testcontainers-go"
		}
		if r.against != "" {
			color, who = "#5a9a3c", r.against
		}
		p(`<text x="%.0f" y="%.0f" text-anchor="end">%s <tspan fill="#777">vs %s</tspan></text>`+"\n", left-8, y+rowH/2+4, esc(r.label), who)
		x0, x1 := x(1), x(r.value)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x0, y+6, math.Max(x1-x0, 1), rowH-12, color)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x(r.lo), y+rowH/2, x(r.hi), y+rowH/2)
		if r.target > 0 {
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-width="3"/>`+"\n", x(r.target), y+2, x(r.target), y+rowH-2)
		}
		p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="#000" stroke-width="0.8"/>`+"\n", x(r.value), y+rowH/2, color)
		p(`<text x="%.1f" y="%.0f">%s</text>`+"\n", math.Max(x(1), math.Max(x(r.value), x(r.hi)))+8, y+rowH/2+4, ratioLabel(r.value))
	}
	p(`<text x="%.0f" y="%.0f" fill="#555" font-size="11">Bars: median of the per-round ratios; whiskers: their min–max. Generated by internal/bench/cmd/benchreport.</text>`+"\n", left, bottom+40)
	p("</svg>\n")
	return w.String()
}

// ratioLabel formats a ratio with two significant digits at least.
func ratioLabel(v float64) string {
	if v < 0.1 {
		return fmt.Sprintf("%.3fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}

func trimFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
