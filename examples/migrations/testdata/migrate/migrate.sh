#!/bin/sh
# migrate DIR: applies the SQL files DIR/*.sql to the database that libpq's environment
# names (PGHOST, PGUSER, PGPASSWORD, PGDATABASE, ...), in name order. Each file runs in
# one transaction together with its row in schema_migrations, so a file is applied
# completely and once, or not at all; files already recorded there are skipped. The
# first failing file stops the run with psql's error and exit code 1.
set -eu

dir=${1:-/migrations}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

log() { echo "migrate: $*"; }

run_psql() {
	psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 "$@"
}

log "database ${PGDATABASE:-?} on ${PGHOST:-?}:${PGPORT:-5432} as ${PGUSER:-?}, migrations in $dir"
run_psql -c 'CREATE TABLE IF NOT EXISTS schema_migrations (
	version    text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)'

applied=0
skipped=0
for file in "$dir"/*.sql; do
	if [ ! -e "$file" ]; then
		log "no migrations in $dir"
		break
	fi
	version=$(basename "$file" .sql)
	# psql interpolates :'version' only in what it reads, not in -c commands.
	done_already=$(echo "SELECT 1 FROM schema_migrations WHERE version = :'version'" |
		run_psql -v version="$version" -f -)
	if [ -n "$done_already" ]; then
		log "$version already applied"
		skipped=$((skipped + 1))
		continue
	fi
	log "applying $version"
	if ! { cat "$file"; printf "\nINSERT INTO schema_migrations (version) VALUES (:'version');\n"; } |
		run_psql --single-transaction -v version="$version" -f -; then
		log "$version failed; nothing of it was applied"
		exit 1
	fi
	applied=$((applied + 1))
done
log "done: $applied applied, $skipped already applied"
