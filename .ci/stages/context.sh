#!/usr/bin/env bash
# Stage: Docker CLI contexts. Contexts are made with the docker CLI in a temporary
# DOCKER_CONFIG: one on the local socket, selected by DOCKER_CONTEXT, and one on a
# mutual-TLS endpoint in front of the local engine, selected as currentContext by
# `docker context use`. Runs the core subset through each.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

have_cmd docker || apt_install docker.io
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST
run_tests -run '^TestConnectCLIContext' ./internal/engine/

export DOCKER_CONFIG=$stage_tmp/docker-config
mkdir -p "$DOCKER_CONFIG"
docker context create ct-local --docker host=unix:///var/run/docker.sock >/dev/null
start_tlsproxy
docker context create ct-tls --docker "host=$tls_addr,ca=$tls_certs/ca.pem,cert=$tls_certs/cert.pem,key=$tls_certs/key.pem" >/dev/null

say "DOCKER_CONTEXT=ct-local"
DOCKER_CONTEXT=ct-local run_tests -run "$core_subset" "${core_pkgs[@]}"

docker context use ct-tls >/dev/null
say "currentContext ct-tls ($tls_addr, mutual TLS)"
docker version --format 'through the context: engine {{.Server.Version}}' >&2
run_tests -run "$core_subset" "${core_pkgs[@]}"
