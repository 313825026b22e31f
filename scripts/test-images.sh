#!/usr/bin/env bash
# Makes the images the tests need on a machine with no registry. Idempotent: an image
# that is already present is left alone. Pulls first where a registry answers.
set -euo pipefail

have() { docker image inspect "$1" >/dev/null 2>&1; }

busybox_image() {
	local ref=busybox:latest
	have "$ref" && return 0
	if timeout 20 docker pull -q "$ref" >/dev/null 2>&1; then return 0; fi
	local bb
	bb=$(command -v busybox || true)
	if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
		[ -x /bin/busybox ] && bb=/bin/busybox
	fi
	[ -n "$bb" ] || { echo "test-images: busybox not found; install busybox-static" >&2; return 1; }
	local root
	root=$(mktemp -d)
	trap 'rm -rf "$root"' RETURN
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/var/www"
	chmod 1777 "$root/tmp"
	cp "$bb" "$root/bin/busybox"
	for applet in $("$root/bin/busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
	tar -C "$root" -c . | docker import \
		-c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$ref" >/dev/null
	echo "test-images: made $ref from the host's busybox"
}

busybox_image
