#!/usr/bin/env bash
# Makes the base images the tests and examples need, on a machine where nothing may be
# pullable. Idempotent and quick when the images exist; an image that is missing is
# pulled where a registry answers, and otherwise made from the host:
#
#   busybox:latest                  the host's static busybox (Debian: busybox-static),
#                                   imported with a link per applet. internal/testimages
#                                   makes the same image from Go; keep the two in step.
#   containertest/debian:bookworm   Debian bookworm for the examples: debian:bookworm-slim
#                                   when it can be pulled, else debootstrap --variant=minbase
#                                   from the Debian mirror apt on this machine uses (a few
#                                   minutes, once).
#
# Usage: scripts/test-images.sh [busybox] [debian]   (no argument: all of them)
#
# Environment:
#   CONTAINERTEST_DEBIAN_MIRROR  Debian mirror URL for debootstrap, instead of apt's.
#   CONTAINERTEST_PULL_TIMEOUT   seconds to wait for a pull before building (default 30).
set -euo pipefail

prog=test-images
pull_timeout=${CONTAINERTEST_PULL_TIMEOUT:-30}

log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }

# Temporary directories, removed on exit however the script ends.
tmpdirs=()
cleanup() {
	local d
	for d in "${tmpdirs[@]+"${tmpdirs[@]}"}"; do
		$SUDO rm -rf "$d"
	done
}
trap cleanup EXIT

SUDO=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
fi

command -v docker >/dev/null 2>&1 || die "no docker command; install docker.io (or run .ci/run)"
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' fails)"

have() { docker image inspect "$1" >/dev/null 2>&1; }

# try_pull REF: pulls REF unless that takes longer than the pull timeout or fails.
try_pull() {
	timeout "$pull_timeout" docker pull -q "$1" >/dev/null 2>&1
}

# is_static FILE: FILE is an ELF program that needs no dynamic loader. Uses ldd (Debian's
# libc-bin, always installed), not file(1), which a fresh machine may lack.
is_static() {
	[ -x "$1" ] || return 1
	if ! command -v ldd >/dev/null 2>&1; then
		return 0 # cannot tell here; the smoke test after the import decides
	fi
	local out
	out=$(LC_ALL=C ldd "$1" 2>&1 || true)
	case $out in
	*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
	esac
	return 1
}

# private_root REF: the first layer of REF (an image of one layer) has a root directory
# that only root may enter. Docker hides it (it makes / 0755 in a container); podman
# does not, and there only root can run anything. Images made before this script set the
# mode have it: mktemp -d makes its directory 0700, and tar records ./ as it is.
private_root() {
	local mode
	mode=$(docker save "$1" | tar -xO --wildcards '*layer.tar' 2>/dev/null |
		tar -tvf - 2>/dev/null | awk '$NF == "./" { print $1; exit }') || true
	[[ $mode == d???------ ]]
}

busybox_image() {
	local ref=busybox:latest old=
	if have "$ref"; then
		private_root "$ref" || return 0
		old=$(docker image inspect --format '{{.Id}}' "$ref")
		log "remaking $ref: its root directory is private to root"
	fi
	if try_pull "$ref"; then
		log "pulled $ref"
		return 0
	fi
	local bb="" p
	for p in "$(command -v busybox || true)" /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox; do
		if [ -n "$p" ] && is_static "$p"; then
			bb=$p
			break
		fi
	done
	[ -n "$bb" ] || die "no statically linked busybox on this machine; install the busybox-static package"

	local root
	root=$(mktemp -d "${TMPDIR:-/tmp}/ct-busybox.XXXXXX")
	tmpdirs+=("$root")
	chmod 755 "$root"
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/var/www"
	chmod 1777 "$root/tmp"
	chmod 700 "$root/root"
	cp "$bb" "$root/bin/busybox"
	chmod 755 "$root/bin/busybox"
	local applet
	for applet in $("$root/bin/busybox" --list); do
		case $applet in busybox | */*) continue ;; esac
		ln -sf busybox "$root/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
	tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
		docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$ref" >/dev/null
	if ! docker run --rm --network none "$ref" sh -c 'true' >/dev/null 2>&1; then
		docker rmi "$ref" >/dev/null 2>&1 || true
		die "the busybox image made from $bb does not run; is $bb statically linked?"
	fi
	log "made $ref from $bb"
	if [ -n "$old" ]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
}

# debian_mirror prints the Debian mirror apt on this machine uses: the first enabled
# "deb" source for a Debian release with the main component that is not a security
# archive, from deb822 .sources files or one-line .list files.
debian_mirror() {
	if [ -n "${CONTAINERTEST_DEBIAN_MIRROR:-}" ]; then
		echo "$CONTAINERTEST_DEBIAN_MIRROR"
		return 0
	fi
	local m codenames='^(bookworm|trixie|forky|bullseye|buster|sid|stable|testing|unstable|oldstable)$'
	local files=()
	local f
	for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && files+=("$f"); done
	if [ ${#files[@]} -gt 0 ]; then
		# deb822: stanzas separated by blank lines.
		m=$(awk -v codes="$codenames" '
			function flush() {
				if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && comps ~ /(^|[ \t])main([ \t]|$)/ && uris !~ /security/) {
					n = split(suites, s, /[ \t]+/)
					for (i = 1; i <= n; i++) if (s[i] ~ codes) { split(uris, u, /[ \t]+/); print u[1]; found = 1; exit }
				}
				types = ""; uris = ""; suites = ""; comps = ""; enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
				if (key == "types") types = val
				else if (key == "uris") uris = val
				else if (key == "suites") suites = val
				else if (key == "components") comps = val
				else if (key == "enabled") enabled = tolower(val)
			}
			END { if (!found) flush() }
		' "${files[@]}" | grep -E '^https?://' | head -n1 || true)
		[ -n "$m" ] && { echo "$m"; return 0; }
	fi
	files=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && files+=("$f"); done
	if [ ${#files[@]} -gt 0 ]; then
		# One-line format: deb [options] URI suite component...
		m=$(sed -e 's/#.*//' -e 's/\[[^]]*\]//' "${files[@]}" |
			awk -v codes="$codenames" '$1 == "deb" && $3 ~ codes && $2 !~ /security/ {
				for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit }
			}' | grep -E '^https?://' | head -n1 || true)
		[ -n "$m" ] && { echo "$m"; return 0; }
	fi
	return 1
}

debian_image() {
	local ref=containertest/debian:bookworm
	have "$ref" && return 0
	if try_pull debian:bookworm-slim; then
		docker tag debian:bookworm-slim "$ref"
		log "tagged debian:bookworm-slim as $ref"
		return 0
	fi
	command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ||
		die "cannot pull debian:bookworm-slim and no debootstrap to make $ref; install the debootstrap package"
	local mirror
	mirror=$(debian_mirror) || die "no Debian mirror in /etc/apt/sources.list{,.d}; set CONTAINERTEST_DEBIAN_MIRROR"
	# Use apt's proxy too, if it has one.
	local APT_PROXY=""
	eval "$(apt-config shell APT_PROXY Acquire::http::Proxy 2>/dev/null || true)"
	if [ -n "$APT_PROXY" ] && [ -z "${http_proxy:-}" ]; then
		export http_proxy=$APT_PROXY
	fi

	local root
	root=$(mktemp -d "${TMPDIR:-/tmp}/ct-debian.XXXXXX")
	tmpdirs+=("$root")
	log "making $ref with debootstrap from $mirror (takes a few minutes, once)"
	local start=$SECONDS
	if ! $SUDO env PATH="$PATH:/usr/sbin:/sbin" ${http_proxy:+http_proxy="$http_proxy"} \
		debootstrap --variant=minbase bookworm "$root/rootfs" "$mirror" >"$root/debootstrap.log" 2>&1; then
		tail -n 30 "$root/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	fi
	# Downloaded packages and indexes are dead weight in a base image.
	$SUDO find "$root/rootfs/var/cache/apt/archives" -name '*.deb' -delete
	$SUDO find "$root/rootfs/var/lib/apt/lists" -type f ! -name lock -delete
	$SUDO tar --numeric-owner -C "$root/rootfs" -c . |
		docker import \
			-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			-c 'ENV LANG=C.UTF-8' \
			-c 'CMD ["bash"]' - "$ref" >/dev/null
	if ! docker run --rm --network none "$ref" sh -c 'test -x /usr/bin/apt-get' >/dev/null 2>&1; then
		docker rmi "$ref" >/dev/null 2>&1 || true
		die "the image made by debootstrap has no working apt-get"
	fi
	log "made $ref in $((SECONDS - start)) s"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(busybox debian)
for w in "${want[@]}"; do
	case $w in
	busybox) busybox_image ;;
	debian) debian_image ;;
	*) die "unknown image \"$w\" (want busybox or debian)" ;;
	esac
done
