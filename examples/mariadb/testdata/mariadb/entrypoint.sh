#!/bin/sh
# First start: make the system tables, then the database MARIADB_DATABASE and the
# user MARIADB_USER (password MARIADB_PASSWORD) that may log in from anywhere, and
# give root the password MARIADB_ROOT_PASSWORD for logins from anywhere (root on the
# socket inside the container needs none).
set -eu
datadir=/var/lib/mysql
: "${MARIADB_DATABASE:?set MARIADB_DATABASE}" "${MARIADB_USER:?set MARIADB_USER}" "${MARIADB_PASSWORD:?set MARIADB_PASSWORD}"
if [ ! -d "$datadir/mysql" ]; then
	: "${MARIADB_ROOT_PASSWORD:?set MARIADB_ROOT_PASSWORD}"
	echo "entrypoint: initialising $datadir"
	mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >/dev/null
	mariadbd --datadir="$datadir" --bootstrap --skip-networking <<SQL
FLUSH PRIVILEGES;
CREATE DATABASE \`$MARIADB_DATABASE\`;
CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';
CREATE USER 'root'@'%' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
fi
exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --skip-name-resolve "$@"
