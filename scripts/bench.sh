#!/usr/bin/env bash
# Runs the side-by-side benchmarks in internal/bench (containertest, the raw Docker API
# and testcontainers-go, interleaved within each benchmark) and writes BENCHMARKS.md and
# docs/bench-chart.svg from one run.
#
# Usage: scripts/bench.sh [benchmark-name-regexp]     (default: all of them)
#
# Environment:
#   BENCH_QUICK=1      a smoke run: 2 rounds per benchmark
#   BENCH_OUT=dir      also keep the raw results (results.txt, benchstat.txt, notes.md)
#                      in dir, and the report and chart of a scratch run (below)
#
# Only a full run of all benchmarks at one clean commit writes BENCHMARKS.md and
# docs/bench-chart.svg. A quick run, a run of some benchmarks, a BENCH_FROM rerun or
# re-report, or a run with uncommitted changes writes them to a scratch directory
# (BENCH_OUT, or a kept temporary directory that the script names), so that a report
# in the repository never mixes commits.
#   BENCH_NO_BENCHSTAT=1  skip benchstat (it is fetched with `go run` on first use)
#   BENCH_FROM=dir     start from the results a run kept with BENCH_OUT=dir: without a
#                      benchmark argument run nothing and write the report again (after
#                      editing internal/bench/notes.md); with one, run only the matching
#                      benchmarks again (say, when the machine got busy during them) and
#                      replace their results; the report names what was rerun, and when
#
# A full run takes about an hour and three quarters on an idle 2-core machine; most of it is
# testcontainers-go waiting 10 s per teardown and rebuilding an image per start (every
# benchmark but Suite took 43 minutes on 2026-12-07, before the extra samples per
# round, which add about 12, and a fifth Pool round, now dropped; Suite, three
# rounds, about an hour). Run it
# when the machine is quiet: the load average is recorded before every benchmark, and
# although each figure is a ratio taken within one run, a busy engine adds noise.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
filter=${1:-.}

# benchstat, pinned so that a run is reproducible.
benchstat_pkg=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Rounds (-count) per benchmark; each round runs every implementation once. Chosen so
# that medians are stable while the run stays under about 30 minutes.
declare -A rounds=(
	[Start]=20
	[FirstStart]=10
	[Teardown]=10
	[WaitLatency]=16
	[Parallel]=8
	[BuildStart]=8
	[BuildKey]=10
	# Builders: one round is three cold builds with apt-get (BuildKit about 26 s,
	# classic and testcontainers-go about 85 s each) and three rebuilds after a
	# one-line change (5-8 s each); with the warm-up, about 13 minutes for 3 rounds.
	[Builders]=3
	# One round of the example suites takes about 15 minutes, nearly all of it
	# testcontainers-go in its default configuration building images with apt-get
	# (18 builds); three rounds, plus the warm-ups (ours, and testcontainers-go with
	# KeepImage from a cold layer cache), make Suite about 50 minutes of a full run.
	[Suite]=3
	# Pool: one round is four sequential suites of 20 tests, about 4 minutes: 3.6 of
	# them testcontainers-go waiting out a 10 s stop grace per test;
	# Reuse: a new process per implementation, the fresh one with initdb;
	# FreshDatabase: a template clone against a new server with initdb.
	[Pool]=4
	[Reuse]=8
	[FreshDatabase]=10
	[Compose]=5
)
# Samples per round (-benchtime Nx): each round runs every implementation this many
# times, interleaved, and reports the median of its samples per implementation, so that
# a per-round ratio compares two medians rather than two single samples. A single
# start varies by about 15% here, which alone puts the p90 of a ratio of two single
# samples near 1.2 however alike the implementations are. Unlisted: 1.
declare -A samples=(
	[Start]=5
	[FirstStart]=3
	[Teardown]=3 # testcontainers-go's 10 s stop grace makes a round about 31 s
	[BuildStart]=3 # testcontainers-go builds every time: about 11 s a sample
)
order=(Start FirstStart Teardown WaitLatency Parallel BuildStart BuildKey Builders Pool Reuse FreshDatabase Compose Suite)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.txt

# Only a full run of every benchmark at one clean commit writes BENCHMARKS.md: a quick
# run, a rerun or re-report (BENCH_FROM), a run of some benchmarks, or a run on a tree
# with uncommitted changes to the library or the benchmarks writes its report to a
# scratch directory (BENCH_OUT, or a new temporary one that is kept and named).
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	for k in "${!rounds[@]}"; do rounds[$k]=$((rounds[$k] < 2 ? rounds[$k] : 2)); done
fi
scratch=
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	scratch="a quick run"
elif [[ -n ${BENCH_FROM:-} ]]; then
	scratch="built from the kept results of an earlier run (BENCH_FROM)"
elif [[ $filter != . ]]; then
	scratch="a run of some benchmarks ($filter), not all"
elif [[ -n $(git -C "$root" status --porcelain -- containers wait network volume compose internal scripts examples go.mod go.sum ':!internal/bench/notes.md') ]]; then
	scratch="a run on a tree with uncommitted changes"
fi
if [[ -n $scratch ]]; then
	out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")}
	mkdir -p "$out"
	md=$out/BENCHMARKS.md
	svg=$out/docs/bench-chart.svg
	echo "bench: $scratch: the report goes to $out, not BENCHMARKS.md" >&2
else
	md=$root/BENCHMARKS.md
	svg=$root/docs/bench-chart.svg
fi

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*load average[s]*: //'; }

cd "$root/internal/bench"
rerun=
if [[ -n ${BENCH_FROM:-} && $filter != . ]]; then
	rerun=1
fi
if [[ -n ${BENCH_FROM:-} && -z $rerun ]]; then
	cp "$BENCH_FROM/results.txt" "$BENCH_FROM/findings.txt" "$work"/
	stat=$work/benchstat.txt
	cp "$BENCH_FROM/benchstat.txt" "$stat" 2>/dev/null || : >"$stat"
else
	echo "bench: compiling the benchmarks" >&2
	go test -c -o "$work/bench.test" .
	export CONTAINERTEST_REQUIRE_DOCKER=1

	if [[ -n $rerun ]]; then
		# Keep everything but the results of the benchmarks run again.
		cp "$BENCH_FROM/findings.txt" "$work"/
		names=$(for b in "${order[@]}"; do if [[ $b =~ $filter ]]; then printf '%s ' "$b"; fi; done)
		pattern=$(for b in $names; do printf '^Benchmark%s-|' "$b"; done | sed 's/|$//')
		grep -vE "$pattern|^load-end: " "$BENCH_FROM/results.txt" >"$results"
		echo "rerun: ${names% } at $(date -u '+%Y-%m-%d %H:%M UTC'), library commit $(git -C "$root" rev-parse --short HEAD)" >>"$results"
	else
		{
			BENCH_PRINT_ENV=1 "$work/bench.test" -test.run '^TestEnvironment$' | grep -E '^[a-z-]+: '
			echo "testcontainers-go: $(go list -m -f '{{.Version}}' github.com/testcontainers/testcontainers-go)"
			# The benchmarks build the library from the working tree (replace ../..).
			dirty=$(git -C "$root" status --porcelain -- containers wait network volume internal ':!internal/bench' | awk '{print $2}' | xargs -r -n1 dirname | sort -u | tr '\n' ' ')
			echo "library: commit $(git -C "$root" rev-parse --short HEAD)${dirty:+, with uncommitted changes in: $dirty}"
			echo "started: $(date -u '+%Y-%m-%d %H:%M UTC')"
			echo "load-start: $(load)"
			echo "count: rounds per benchmark: $(for b in "${order[@]}"; do printf '%s %s, ' "$b" "${rounds[$b]}"; done | sed 's/, $//')"
			echo "samples: per implementation and round, their median reported: $(for b in "${order[@]}"; do printf '%s %s, ' "$b" "${samples[$b]:-1}"; done | sed 's/, $//')"
		} >"$results"

		echo "bench: findings" >&2
		BENCH_PROXY=1 "$work/bench.test" -test.run '^TestFinding' -test.v | grep 'finding:' | sed 's/^ *[a-z_]*\.go:[0-9]*: //' >"$work/findings.txt" || true
		cat "$work/findings.txt" >&2
	fi

	for b in "${order[@]}"; do
		if ! [[ $b =~ $filter ]]; then
			continue
		fi
		echo "bench: $b (${rounds[$b]} rounds; load $(load))" >&2
		echo "load: $(load)" >>"$results"
		"$work/bench.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime "${samples[$b]:-1}x" \
			-test.count "${rounds[$b]}" -test.timeout 60m | tee -a "$results" | grep -E '^Benchmark|FAIL|panic' >&2 || {
			echo "bench: $b failed; its output:" >&2
			tail -n 30 "$results" >&2
			exit 1
		}
	done
	echo "load-end: $(load)" >>"$results"

	stat=$work/benchstat.txt
	: >"$stat"
	if [[ ${BENCH_NO_BENCHSTAT:-} != 1 ]]; then
		# Configuration lines that change between benchmarks would split benchstat's tables.
		grep -vE '^(load|started|load-start|load-end|count|samples|rerun): ' "$results" >"$work/this-run"
		(cd "$work" && go run "$benchstat_pkg" this-run >"$stat" 2>/dev/null) || {
			echo "bench: benchstat unavailable; the report goes without it" >&2
			: >"$stat"
		}
	fi
fi

notes=$work/notes.md
{
	echo "## Findings on this machine"
	echo
	echo "Recorded by the tests in \`internal/bench/findings_test.go\` in this run:"
	echo
	sed 's/^finding: /- /' "$work/findings.txt"
	echo
	cat "$root/internal/bench/notes.md"
} >"$notes"

mkdir -p "$(dirname "$svg")"
go run ./cmd/benchreport -in "$results" -md "$md" -svg "$svg" -notes "$notes" -benchstat "$stat"
if [[ -n ${BENCH_OUT:-} ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$results" "$stat" "$work/findings.txt" "$notes" "$BENCH_OUT"/
elif [[ -n $scratch ]]; then
	cp "$results" "$stat" "$work/findings.txt" "$notes" "$out"/
fi
echo "bench: wrote $md and $svg" >&2
