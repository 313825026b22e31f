# Shared by the engine-configuration stages (sourced, never run). Each stage sets one
# configuration up on a fresh Debian machine, runs a part of the core suites through it
# with CONTAINERTEST_REQUIRE_DOCKER=1, and removes what it set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

stage=$(basename "${BASH_SOURCE[1]}" .sh)
say() { printf '\n==> [%s] %s\n' "$stage" "$*" >&2; }
die() {
	printf '.ci/stages/%s: %s\n' "$stage" "$*" >&2
	exit 1
}

SUDO=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
apt_updated=
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "missing $*, and no apt-get to install it with"
	if [ -z "$apt_updated" ]; then
		$SUDO apt-get update -q >/dev/null
		apt_updated=1
	fi
	say "apt-get install $*"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
have_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# The core suites; a stage runs them all or a -run subset of them.
core_pkgs=(./containers/ ./wait/ ./network/ ./volume/ ./internal/reaper/ ./compose/)

stage_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ct-stage-$stage.XXXXXX")
cleanups=()
on_exit() {
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
	rm -rf "$stage_tmp"
}
trap on_exit EXIT
# defer CMD: run CMD (a string) when the stage ends, last deferred first.
defer() { cleanups+=("$1"); }

# wait_file FILE SECONDS PID: wait until FILE exists while PID lives.
wait_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -s "$1" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# run_tests ARGS...: go test with the stage's configuration in the environment, failing
# (never skipping) when the engine does not answer.
run_tests() {
	say "go test $*"
	local start=$SECONDS
	CONTAINERTEST_REQUIRE_DOCKER=1 go test -race -count=1 -p 2 "$@"
	say "tests took $((SECONDS - start)) s"
}

# The subset of the core suites that the lighter stages run: a container served and
# torn down, ports, exec, copy, logs, a build-cache hit, names on a network, waits,
# volumes, the watchdog and sweep, and a Compose file's core keys (ports, two networks,
# a named volume, a bind mount, a tmpfs, a health check, depends_on), its teardown and
# a service built from a Dockerfile.
core_subset='^(TestStartServesAndTearsDown|TestPortsBindToLoopback|TestExec|TestCopyToAndFrom|TestLogs|TestBuildHitSendsNothing|TestNetworkPeersReachEachOtherByAliasAndName|TestIntegration.*|TestNewLabelsAndRemovesAtTestEnd|TestDataOutlivesContainer|TestWatchdogRemovesSessionWhenTestProcessEnds|TestSweepRemovesOnlyResourcesOfDeadOwners|TestUpCoreKeys|TestRunDownRemovesEverything|TestBuildAndImageSharedByName)$'

# start_tlsproxy: put the local engine behind mutual TLS on 127.0.0.1; sets tls_addr
# (tcp://127.0.0.1:PORT) and tls_certs (a DOCKER_CERT_PATH directory).
start_tlsproxy() {
	local sock=/var/run/docker.sock
	[ -S "$sock" ] || die "no engine socket at $sock"
	go build -o "$stage_tmp/tlsproxy" ./internal/enginetest/cmd/tlsproxy
	"$stage_tmp/tlsproxy" -certs "$stage_tmp/certs" -upstream "$sock" -addr-file "$stage_tmp/addr" 2>"$stage_tmp/proxy.log" &
	local pid=$!
	defer "kill $pid; wait $pid"
	wait_file "$stage_tmp/addr" 30 "$pid" || {
		cat "$stage_tmp/proxy.log" >&2
		die "the TLS proxy did not start"
	}
	tls_addr=$(cat "$stage_tmp/addr")
	tls_certs=$stage_tmp/certs
}

# load_test_images DOCKER_HOST: copy the test base images from the machine's engine
# into another engine (podman, rootless Docker): nothing can be pulled here.
load_test_images() {
	local img imgs=()
	for img in busybox:latest containertest/debian:bookworm; do
		DOCKER_HOST= DOCKER_CONTEXT= docker image inspect "$img" >/dev/null 2>&1 && imgs+=("$img")
	done
	[ ${#imgs[@]} -gt 0 ] || die "no test images on the machine's engine (scripts/test-images.sh makes them)"
	DOCKER_HOST= DOCKER_CONTEXT= docker save "${imgs[@]}" -o "$stage_tmp/images.tar"
	DOCKER_HOST=$1 docker load -i "$stage_tmp/images.tar" >/dev/null
	rm -f "$stage_tmp/images.tar"
}

# build_test_binaries DIR PKG...: go test -race -c each package into DIR/<pkg>.test.
build_test_binaries() {
	local dir=$1 p
	shift
	mkdir -p "$dir"
	for p in "$@"; do
		go test -race -c -o "$dir/$(test_binary_name "$p")" "$p"
	done
}
test_binary_name() { echo "$1" | tr -d ./ | tr / _ | sed 's/$/.test/'; }
