#!/usr/bin/env bash
# Stage: the tests inside a container with the engine's socket mounted, the common CI
# setup. The test binaries are built here (-race) and run in a container made from the
# Debian base (containertest/debian:bookworm) with /var/run/docker.sock, the source tree
# and the Go toolchain (some tests compile Go programs into images) mounted, first on
# the default bridge and then on a user-defined network the stage makes. The framework
# must find its own container from facts (not /.dockerenv), publish ports on the
# gateway of its network only, and reach them there. Runs the engine tests and the core
# subset, watchdog and sweep included.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST
image=containertest/debian:bookworm
docker image inspect "$image" >/dev/null 2>&1 || die "no $image (scripts/test-images.sh makes it)"
src=$(pwd)
goroot=$(go env GOROOT)
gomodcache=$(go env GOMODCACHE)
bin=$stage_tmp/bin
mkdir -p "$bin"
pkgs=(./internal/engine/ "${core_pkgs[@]}")
say "building test binaries"
for p in "${pkgs[@]}"; do
	go test -race -c -o "$bin/$(echo "$p" | tr -d ./ | tr / _).test" "$p"
done

# in_container NETWORK RUN: every test binary in a fresh container on NETWORK.
in_container() {
	local net=$1 run=$2 name="ct-stage-incontainer-$$-$1"
	say "in a container on network $net: -run '$run'"
	local script='set -e; rc=0
for p in '"${pkgs[*]}"'; do
	b=/ct-bin/$(echo "$p" | tr -d ./ | tr / _).test
	echo "--- $p"
	(cd "$p" && "$b" -test.count=1 -test.timeout=20m -test.run "$CT_RUN") || rc=1
done
exit $rc'
	local start=$SECONDS
	docker run --rm --name "$name" --network "$net" \
		--label org.containertest.ci-stage=incontainer \
		-v /var/run/docker.sock:/var/run/docker.sock \
		-v "$src:$src" -w "$src" \
		-v "$bin:/ct-bin:ro" \
		-v "$goroot:$goroot:ro" -v "$gomodcache:$gomodcache:ro" \
		-e PATH="$goroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		-e GOMODCACHE="$gomodcache" -e GOFLAGS=-mod=mod -e GOPROXY=off \
		-e CONTAINERTEST_REQUIRE_DOCKER=1 -e CONTAINERTEST_IN_CONTAINER=1 \
		-e CT_RUN="$run" \
		"$image" bash -c "$script"
	say "took $((SECONDS - start)) s"
}

engine_run='^(TestGetRealEngine|TestGetReachesPublishedPort)$'
in_container bridge "$engine_run|$core_subset"

net=ct-stage-incontainer-$$
docker network create --label org.containertest.ci-stage=incontainer "$net" >/dev/null
defer "docker network rm $net >/dev/null"
in_container "$net" "$engine_run|^(TestStartServesAndTearsDown|TestPortsBindToLoopback|TestIntegrationForHTTP|TestNetworkPeersReachEachOtherByAliasAndName|TestWatchdogRemovesSessionWhenTestProcessEnds)$"
