#!/usr/bin/env bash
# Stage: podman's Docker-compatible API (Debian's podman 4.3) on a socket of its own,
# with its own storage under a temporary directory, the default_ulimits fix for runc's
# "error setting rlimits", and the dnsname CNI plugin for names on user networks (see
# README.md, "Podman"). Runs the part of the core suites that podman passes; the
# differences are listed in the README with their reasons.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

have_cmd podman || apt_install podman
[ -x /usr/lib/cni/dnsname ] || apt_install golang-github-containernetworking-plugin-dnsname
# podman's init for Init() and compose's init: true (a Recommends of the podman package).
[ -x /usr/libexec/podman/catatonit ] || apt_install catatonit
have_cmd docker || apt_install docker.io
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST

export CONTAINERS_CONF=$stage_tmp/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
# Without these every container fails in runc: "error setting rlimits ... type 6/7".
default_ulimits = ["nofile=20000:20000", "nproc=8192:8192"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
podman=(podman --root "$stage_tmp/root" --runroot "$stage_tmp/run" --storage-driver vfs)
"${podman[@]}" system service --time=0 "unix://$stage_tmp/podman.sock" 2>"$stage_tmp/service.log" &
service=$!
defer "kill $service; wait $service; ${podman[*]} system reset --force >/dev/null 2>&1"
for _ in $(seq 100); do
	[ -S "$stage_tmp/podman.sock" ] && DOCKER_HOST=unix://$stage_tmp/podman.sock docker version >/dev/null 2>&1 && break
	kill -0 "$service" 2>/dev/null || { cat "$stage_tmp/service.log" >&2; die "podman system service exited"; }
	sleep 0.1
done
export DOCKER_HOST=unix://$stage_tmp/podman.sock
docker version --format 'podman {{.Server.Version}} (API {{.Server.APIVersion}})' >&2
load_test_images "$DOCKER_HOST"

# What podman passes: the whole containers package but for four tests of differences
# the README lists (pulls from a plain-HTTP registry, a missing network's error class,
# a mount's volume driver, a static address outside the IP range, listening on a CNI
# gateway before a container is there); every wait strategy, health checks included
# (where podman has no systemd to run them, the framework runs its probes:
# containers/podmanhealth.go); the watchdog and the sweep; and the whole network and
# volume packages (TestManyNetworksAtOnce passes but takes about 5 minutes on podman).
run_tests -skip '^(TestOtherNotFoundIsNotAMissingImage|TestPullFailuresSayWhy|TestHostAccess|TestStaticIPAndIPAM)$' ./containers/
run_tests -run '^(TestWatchdogRemovesSessionWhenTestProcessEnds|TestSweepRemovesOnlyResourcesOfDeadOwners|TestRemoveSessionLeavesNetworkInUse)$' ./internal/reaper/
run_tests -skip '^TestManyNetworksAtOnce$' ./network/ ./volume/
# The whole compose package; without BuildKit, build secrets are refused (checked).
run_tests ./compose/
# The whole wait package. Podman's log stream delivers lines late: a ForLog with a 1 s
# timeout may see none.
run_tests -skip '^TestIntegrationForLog$/^timeout$' ./wait/
