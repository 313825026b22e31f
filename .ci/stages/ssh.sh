#!/usr/bin/env bash
# Stage: an ssh:// engine. Debian's openssh-server runs as this user on 127.0.0.1 with a
# host key and a client key the stage makes; the tests reach the engine through
# DOCKER_HOST=ssh://ALIAS, where the framework runs `ssh ALIAS docker system
# dial-stdio` as the Docker CLI does. The alias lives in a file of its own under
# /etc/ssh/ssh_config.d/ for the stage's duration (ssh reads no per-process config
# path from the environment). Runs the ssh tests, and the core subset through ssh.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

have_cmd sshd || apt_install openssh-server
have_cmd ssh || apt_install openssh-client
have_cmd docker || apt_install docker.io
grep -qs '^Include /etc/ssh/ssh_config.d/\*.conf' /etc/ssh/ssh_config ||
	die "/etc/ssh/ssh_config does not include /etc/ssh/ssh_config.d/*.conf (Debian's does)"
[ "$(id -u)" = 0 ] || die "the stage runs sshd as root on 127.0.0.1 (CI runs as root)"
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST

d=$stage_tmp
ssh-keygen -q -t ed25519 -N '' -C containertest-ci-host -f "$d/host_key"
ssh-keygen -q -t ed25519 -N '' -C containertest-ci -f "$d/key"
ssh-keygen -q -t ed25519 -N '' -C containertest-ci-refused -f "$d/badkey"
cp "$d/key.pub" "$d/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-40000 -n 1)
mkdir -p /run/sshd
cat >"$d/sshd_config" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
AllowUsers $(id -un)
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
# The tests open an ssh connection per pooled API connection, many at once.
MaxStartups 200:30:400
CONF
/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
sshd=$!
defer "kill $sshd; wait $sshd"

alias=containertest-ssh-ci-$$
conf=/etc/ssh/ssh_config.d/$alias.conf
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
cat >"$conf" <<CONF
# Made by containertest's .ci/stages/ssh.sh for one CI run; it removes this file.
Host $alias $alias-refused
	HostName 127.0.0.1
	Port $port
	User $(id -un)
	IdentitiesOnly yes
	UserKnownHostsFile $d/known_hosts
	StrictHostKeyChecking yes
Host $alias
	IdentityFile $d/key
Host $alias-refused
	IdentityFile $d/badkey
CONF
defer "rm -f $conf"
for _ in $(seq 50); do
	ssh -o BatchMode=yes "$alias" true 2>/dev/null && break
	kill -0 "$sshd" 2>/dev/null || { cat "$d/sshd.log" >&2; die "sshd exited"; }
	sleep 0.2
done
ssh -o BatchMode=yes "$alias" docker version --format '{{.Server.Version}}' >&2 ||
	{ tail -20 "$d/sshd.log" >&2; die "cannot reach the engine over ssh"; }

CONTAINERTEST_TEST_SSH_HOST=ssh://$alias CONTAINERTEST_TEST_SSH_BADKEY_HOST=ssh://$alias-refused \
	run_tests -v -run 'SSH' ./internal/engine/

export DOCKER_HOST=ssh://$alias
say "engine at $DOCKER_HOST (127.0.0.1:$port)"
# Every exec or attach is a new connection, and over ssh that starts a remote
# `docker system dial-stdio` (a docker CLI process): an exec wait with a 1 s timeout
# may see no exec finish on a loaded machine. README.md lists this.
run_tests -run "$core_subset" -skip '^TestIntegrationForExec$/^timeout$' "${core_pkgs[@]}"
