#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each: FUZZTIME (a go test -fuzztime value,
# default 10s). The corpus kept in the repository is each package's testdata/fuzz;
# with FUZZ_SAVE=1 the inputs the fuzzer found interesting are copied there too.
# Prints "fuzz: TARGET TIME corpus N" per target for scripts/reliability.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-10s}
targets=(
	"./internal/reliability FuzzEnv"
	"./internal/reliability FuzzExposePort"
	"./internal/reliability FuzzBuildContext"
	"./compose FuzzLoad"
)
# fuzz_one PKG NAME: one bounded run of one target.
fuzz_one() {
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s -parallel 1 "$1"
}
cache=$(go env GOCACHE)/fuzz/github.com/containertest/containertest
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	# One worker: the machine is shared with the engine and the other tests. Go's
	# fuzzer can fail with a bare "context deadline exceeded" when the time runs out
	# while an input is running on a stalled machine, with no failing input saved:
	# that, and only that, is run once more.
	out=$(mktemp)
	if ! fuzz_one "$pkg" "$name" 2>&1 | tee "$out" >&2; then
		if ! grep -q '^    context deadline exceeded$' "$out" || grep -q 'Failing input written to' "$out"; then
			rm -f "$out"
			exit 1
		fi
		echo "fuzz: $name stopped at its deadline with no failing input; once more" >&2
		fuzz_one "$pkg" "$name" >&2 || { rm -f "$out"; exit 1; }
	fi
	rm -f "$out"
	rel=${pkg#./}
	if [ "${FUZZ_SAVE:-}" = 1 ] && [ -d "$cache/$rel/$name" ]; then
		mkdir -p "$rel/testdata/fuzz/$name"
		cp -n "$cache/$rel/$name"/* "$rel/testdata/fuzz/$name/" 2>/dev/null || true
	fi
	kept=$(find "$rel/testdata/fuzz/$name" -type f 2>/dev/null | wc -l)
	found=$(find "$cache/$rel/$name" -type f 2>/dev/null | wc -l)
	echo "fuzz: $name $fuzztime corpus $kept cache $found"
done
