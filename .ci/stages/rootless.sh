#!/usr/bin/env bash
# Stage: rootless Docker. Debian's rootlesskit, slirp4netns and uidmap, and the
# dockerd-rootless.sh that docker.io ships, run a second engine as an unprivileged user
# the stage makes (ctrootless); the tests, built here, run as that user and find the
# engine at the rootless socket ($XDG_RUNTIME_DIR/docker.sock) by themselves, after the
# default socket refuses them. Runs the core subset.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

[ "$(id -u)" = 0 ] || die "the stage makes a user and runs as root (CI runs as root)"
have_cmd rootlesskit || apt_install rootlesskit
have_cmd slirp4netns || apt_install slirp4netns
have_cmd newuidmap || apt_install uidmap
have_cmd fuse-overlayfs || apt_install fuse-overlayfs
rootless_sh=/usr/share/docker.io/contrib/dockerd-rootless.sh
[ -x "$rootless_sh" ] || apt_install docker.io
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST

# Debian makes both devices usable by every user (udev's default); some CI sandboxes
# keep them root-only, where rootlesskit cannot make its tap device or mount fuse.
for dev in /dev/net/tun /dev/fuse; do
	[ -c "$dev" ] || die "no $dev: rootless Docker needs it"
	[ "$(stat -c %a "$dev")" = 666 ] || { say "chmod 0666 $dev (Debian's default)"; chmod 0666 "$dev"; }
done
user=ctrootless
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
grep -q "^$user:" /etc/subuid || die "no subordinate uids for $user in /etc/subuid"

run=$stage_tmp/xdg
mkdir -p "$run"
chmod 0755 "$stage_tmp"
chown "$user" "$run"
chmod 0700 "$run"
# The shell's pid becomes rootlesskit's (exec), which the stage ends by that pid.
su "$user" -c "cd; echo \$\$ >$run/rootlesskit.pid; XDG_RUNTIME_DIR=$run PATH=$(dirname "$rootless_sh"):/usr/sbin:/usr/bin:/sbin:/bin \
	exec $rootless_sh --storage-driver fuse-overlayfs" >"$stage_tmp/dockerd.log" 2>&1 &
dockerd=$!
defer "kill \$(cat $run/rootlesskit.pid); wait $dockerd"
for _ in $(seq 300); do
	[ -S "$run/docker.sock" ] && DOCKER_HOST=unix://$run/docker.sock docker version >/dev/null 2>&1 && break
	kill -0 "$dockerd" 2>/dev/null || { tail -30 "$stage_tmp/dockerd.log" >&2; die "dockerd-rootless.sh exited"; }
	sleep 0.1
done
DOCKER_HOST=unix://$run/docker.sock docker info --format 'rootless engine {{.ServerVersion}}: {{.SecurityOptions}}' >&2
load_test_images "unix://$run/docker.sock"

bin=$stage_tmp/bin
pkgs=(./internal/engine/ "${core_pkgs[@]}")
build_test_binaries "$bin" "${pkgs[@]}"
chmod -R a+rX "$bin"
goroot=$(go env GOROOT)
say "as $user: -run core subset"
start=$SECONDS
rc=0
for p in "${pkgs[@]}"; do
	echo "--- $p" >&2
	su "$user" -c "cd '$(pwd)/$p' && env PATH=$goroot/bin:/usr/bin:/bin XDG_RUNTIME_DIR=$run \
		CONTAINERTEST_REQUIRE_DOCKER=1 GOFLAGS=-mod=mod GOPROXY=off \
		$bin/$(test_binary_name "$p") -test.count=1 -test.timeout=20m \
		-test.run '^(TestGetRealEngine|TestGetReachesPublishedPort)\$|$core_subset'" || rc=1
done
say "took $((SECONDS - start)) s"
[ "$rc" = 0 ] || die "tests failed as $user against rootless Docker"
