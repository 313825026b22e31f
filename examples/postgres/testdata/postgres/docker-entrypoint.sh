#!/bin/sh
# Entrypoint of the PostgreSQL test image.
#
# Environment: POSTGRES_PASSWORD (required on the first start), POSTGRES_USER
# (default postgres), POSTGRES_DB (default: the user's name), POSTGRES_INITDB_ARGS
# (extra initdb options), PGDATA (default /var/lib/postgresql/data).
#
# "postgres [options]": on the first start, initialise a cluster in $PGDATA (superuser
# $POSTGRES_USER with password $POSTGRES_PASSWORD, database $POSTGRES_DB), allow
# password logins from any address, then run the server in the foreground as the
# postgres user, listening on all addresses. Later starts on the same data directory
# (a named volume) skip the initialisation. Any other command runs as given.
set -eu

if [ "${1:-postgres}" != postgres ] && [ "${1#-}" = "$1" ]; then
	exec "$@"
fi
if [ "${1:-}" = postgres ]; then
	shift
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

# As root: make sure the data and socket directories belong to postgres (a fresh named
# volume or a bind mount may not), then continue as postgres.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "docker-entrypoint: POSTGRES_PASSWORD must be set to initialise $PGDATA" >&2
		exit 1
	fi
	echo "docker-entrypoint: initialising a PostgreSQL $PG_MAJOR cluster in $PGDATA"
	pwfile=$(mktemp)
	trap 'rm -f "$pwfile"' EXIT
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# --no-sync: the files reach the kernel either way; waiting for the disk only
	# matters if the machine crashes, and it costs seconds on a busy test machine.
	# $POSTGRES_INITDB_ARGS adds options (e.g. "--data-checksums").
	# shellcheck disable=SC2086 # word splitting of the extra options is intended
	initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--encoding=UTF8 --locale=C.UTF-8 --no-sync \
		--auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	trap - EXIT
	# initdb allows host logins from the loopback addresses only.
	echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		# Single-user mode: no server listens yet, so nobody connects half-initialised.
		# fsync=off for the same reason as initdb's --no-sync.
		echo "CREATE DATABASE \"$POSTGRES_DB\"" |
			postgres --single -D "$PGDATA" -c fsync=off postgres >/dev/null
	fi
	echo "docker-entrypoint: initialised; starting the server"
fi

exec postgres -D "$PGDATA" "$@"
