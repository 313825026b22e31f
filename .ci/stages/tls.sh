#!/usr/bin/env bash
# Stage: a remote engine over TCP with mutual TLS. A TLS-terminating proxy on 127.0.0.1
# (internal/enginetest/cmd/tlsproxy, with a CA, server and client certificates it makes)
# stands in front of this machine's engine, as a dockerd started with --tlsverify does;
# the tests reach it through DOCKER_HOST=tcp://127.0.0.1:PORT, DOCKER_TLS_VERIFY=1 and
# DOCKER_CERT_PATH. Runs the core suites in full.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERTEST_HOST
# The refusals (wrong client certificate, unknown CA, plain TCP) against the real engine
# behind a proxy of the test's own.
run_tests -run '^TestConnectThroughTLSProxy' ./internal/engine/

start_tlsproxy
export DOCKER_HOST=$tls_addr DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$tls_certs
say "engine at $DOCKER_HOST (mutual TLS, certificates in DOCKER_CERT_PATH)"
docker version --format 'through TLS: engine {{.Server.Version}} (API {{.Server.APIVersion}})' >&2
run_tests -timeout 30m "${core_pkgs[@]}"
