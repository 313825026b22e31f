#!/usr/bin/env bash
# Runs the reliability and security suite (internal/reliability) once under -race, and
# the fuzz targets for a bounded time each (scripts/fuzz.sh), and writes RELIABILITY.md
# from that one run: bad inputs tried, faults survived, load held, security defaults,
# fuzz time and corpus size, leaks found, and the command that reproduces it.
#
# Only a run at a clean commit writes RELIABILITY.md in the repository; with uncommitted
# changes the report goes to a scratch file (printed at the end), so that every figure
# in the committed report comes from a run at one commit.
#
#   CONTAINERTEST_RELIABILITY_LOAD      parallel tests per load round (default 20; the
#                                       issue's full size is 50)
#   CONTAINERTEST_RELIABILITY_NETWORKS  live networks during the load (default 60)
#   CONTAINERTEST_RELIABILITY_ROUNDS    load rounds in a row (default 3)
#   FUZZTIME                            time per fuzz target (default 10s)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

commit=$(git rev-parse --short HEAD)
out=RELIABILITY.md
if ! git diff --quiet HEAD -- || [ -n "$(git ls-files --others --exclude-standard)" ]; then
	out=$(mktemp "${TMPDIR:-/tmp}/RELIABILITY.XXXXXX.md")
	commit="$commit+dirty"
	echo "reliability.sh: uncommitted changes; the report goes to $out" >&2
fi
log=$(mktemp "${TMPDIR:-/tmp}/reliability.XXXXXX.log")
fuzzlog=$(mktemp "${TMPDIR:-/tmp}/reliability-fuzz.XXXXXX.log")

load=${CONTAINERTEST_RELIABILITY_LOAD:-20}
nets=${CONTAINERTEST_RELIABILITY_NETWORKS:-60}
rounds=${CONTAINERTEST_RELIABILITY_ROUNDS:-3}
fuzztime=${FUZZTIME:-10s}
suite_cmd="CONTAINERTEST_REQUIRE_DOCKER=1 CONTAINERTEST_RELIABILITY_LOAD=$load CONTAINERTEST_RELIABILITY_NETWORKS=$nets CONTAINERTEST_RELIABILITY_ROUNDS=$rounds go test -race -count=1 -v -timeout 20m ./internal/reliability/"

echo "==> $suite_cmd" >&2
start=$(date +%s)
set +e
env CONTAINERTEST_REQUIRE_DOCKER=1 CONTAINERTEST_RELIABILITY_LOAD="$load" \
	CONTAINERTEST_RELIABILITY_NETWORKS="$nets" CONTAINERTEST_RELIABILITY_ROUNDS="$rounds" \
	go test -race -count=1 -v -timeout 20m ./internal/reliability/ >"$log" 2>&1
rc=$?
set -e
suite_s=$(($(date +%s) - start))
echo "==> FUZZTIME=$fuzztime scripts/fuzz.sh" >&2
set +e
FUZZTIME=$fuzztime scripts/fuzz.sh >"$fuzzlog"
fuzz_rc=$?
set -e

# counts PATTERN: passed and failed top-level or sub tests whose name matches PATTERN.
passed() { grep -cE -- "^\s*--- PASS: ($1) " "$log" || true; }
failed() { grep -cE -- "^\s*--- FAIL: ($1) " "$log" || true; }
fig() { grep -oE "figure: $1 [^ ]+" "$log" | head -1 | awk '{print $3}'; }
result() { # NAME: PASS, FAIL or SKIP of the test NAME
	if grep -qE "^\s*--- PASS: $1 " "$log"; then echo pass
	elif grep -qE "^\s*--- FAIL: $1 " "$log"; then echo FAIL
	elif grep -qE "^\s*--- SKIP: $1 " "$log"; then echo skipped
	else echo "not run"; fi
}
leaks=$(grep -cE 'left on the engine|leaked resources' "$log" || true)
go_version=$(go version | awk '{print $3}')
engine=$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo unknown)

{
	echo "# Reliability and security, measured"
	echo
	echo "Written by \`scripts/reliability.sh\` from one run at commit \`$commit\` on $(date -u +%Y-%m-%d)"
	echo "($go_version, Docker engine $engine, $(nproc) cores). Suite exit status: $rc; fuzz: $fuzz_rc."
	echo "The suite took ${suite_s} s under \`-race\`. Reproduce:"
	echo
	echo '```sh'
	echo "$suite_cmd"
	echo "FUZZTIME=$fuzztime scripts/fuzz.sh"
	echo '```'
	echo
	echo "## Bad input"
	echo
	echo "$(passed 'TestBadInput/[^ ]+') of $(($(passed 'TestBadInput/[^ ]+') + $(failed 'TestBadInput/[^ ]+'))) bad inputs refused as promised (error or documented panic naming the"
	echo "problem and the value, the right sentinel, nothing left on the engine): names, images,"
	echo "ports, env keys, labels, limits, timeouts, mounts, nil arguments, wait strategies, build"
	echo "inputs, groups, networks, volumes, calls on terminated containers, Terminate twice and"
	echo "concurrently, compose files. Cases: \`internal/reliability/badinput_test.go\`."
	echo
	echo "## Faults"
	echo
	echo "| fault | result | figure |"
	echo "|---|---|---|"
	echo "| container killed from outside during a wait | $(result TestFaultKilledDuringWait) | wait ended $(fig kill_to_wait_end_ms) ms after the kill; Run returned after $(fig kill_to_error_ms) ms (with the removal) |"
	echo "| container removed from outside mid-test | $(result TestFaultRemovedFromOutside) | cleanup quiet, nothing left |"
	echo "| its network removed from outside | $(result TestFaultNetworkRemovedFromOutside) | Inspect says ErrRemoved, cleanup quiet |"
	echo "| out-of-memory kill | $(result TestFaultOOM) | the error says \"out of memory\" |"
	echo "| engine connection cut mid-wait, mid-build, restored | $(result TestFaultEngineCut) | wait failed $(fig cut_wait_to_error_ms) ms after the cut, build $(fig cut_build_to_error_ms) ms; $(fig left_after_cut_wait) container left until the watchdog (see below) |"
	echo "| event stream dropped while containers run | $(result TestFaultEventStreamDropped) | re-opened, no exit missed |"
	echo "| build context deleted during the build | $(result TestFaultBuildContextDeleted) | outcome: $(fig context_deleted_outcome) |"
	echo
	echo "## Load"
	echo
	echo "$(fig load_rounds) rounds in a row of $(fig load_parallel) parallel tests (the size CI runs on 2 cores; the issue's full"
	echo "size is \`CONTAINERTEST_RELIABILITY_LOAD=50\`), each with its own network, an httpd server"
	echo "and a client that reaches it by name, a volume and an exec; every published port was"
	echo "checked to reach its own server by an identity only that server serves."
	echo
	echo "| figure | value |"
	echo "|---|---|"
	echo "| result | $(result TestLoad), $(failed 'TestLoad/round[0-9]+/t[0-9]+') of $(fig load_tests_run) tests failed |"
	for r in $(seq "$rounds"); do echo "| round $r wall time | $(fig "load_round${r}_wall_ms") ms |"; done
	echo "| slowest server start (median) | $(fig load_slowest_start_ms) ms ($(fig load_median_start_ms) ms) |"
	echo "| most live networks of this run at once | $(fig load_max_live_networks) |"
	echo
	echo "## Security defaults"
	echo
	echo "| check | result |"
	echo "|---|---|"
	echo "| Spec: ports on 127.0.0.1, not privileged, no added capability, no host network, pid or ipc | $(result TestSecurityDefaultsSpec) |"
	echo "| StartAll: the same | $(result TestSecurityDefaultsStartAll) |"
	echo "| compose: the same | $(result TestSecurityDefaultsCompose) |"
	echo "| a .dockerignored secret is not in the built image | $(result TestSecurityIgnoredSecretNotInImage) |"
	echo "| registry credentials and env secret values in no output of a failing test (diagnosis, keep report, pull error) | $(result TestSecurityNoSecretsInOutput) |"
	echo
	echo "## Fuzzing"
	echo
	echo "| target | time | corpus kept in testdata/fuzz | inputs in the local cache |"
	echo "|---|---|---|---|"
	awk '/^fuzz: /{print "| " $2 " | " $3 " | " $5 " | " $7 " |"}' "$fuzzlog"
	echo
	echo "## Leaks"
	echo
	echo "$leaks leak reports in this run (per bad input, per child process after its watchdog, and"
	echo "for the whole test process by session label)."
	echo
	echo "## What the suite found"
	echo
	echo "Fixed, each with its case as the test:"
	echo
	echo "- No exported sentinel for bad input: Spec errors, a missing bind or CopyDir source, a"
	echo "  missing build context or Dockerfile, a Dockerfile that does not parse, an unknown"
	echo "  target, a dependency cycle or unknown dependency in a group, a negative MaxParallel."
	echo "  All now wrap \`containers.ErrInvalidSpec\`."
	echo "- An image reference the engine cannot parse (\`bad image:1\`, upper case) went to the"
	echo "  engine and came back as a bare \"invalid reference format\"; now refused by Image, named."
	echo "- A build whose engine connection broke said only \"unexpected EOF\" or the client's"
	echo "  \"error during connect ... EOF\"; both now say the docker engine's side broke."
	echo
	echo "Open (the cases assert today's behaviour):"
	echo
	echo "- A container whose removal failed while the engine was cut stays until the test"
	echo "  process ends; the watchdog then removes it (checked). Run says so in its error."
	echo "- Errors with no sentinel yet, naming the problem and value: StartFor with a nil TB,"
	echo "  Container calls with bad arguments (LookupPort, Stop with a negative timeout, Connect"
	echo "  nil, CopyTo a relative path, Exec with no command), calls on a terminated container,"
	echo "  an unknown network driver (the engine's error, after its plugin lookup of ~15 s)."
	echo "- The framework has one builder (the engine's classic one) and no build secrets, so"
	echo "  \"either builder\" and \"build secrets never in an image\" have nothing to test yet."
} >"$out"

echo "reliability.sh: wrote $out (suite log: $log)" >&2
[ "$rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ]
