#!/bin/bash
# The official image's first-start behaviour for the variables compose.yaml uses.
set -euo pipefail
if [ "${1:-}" != mariadbd ]; then exec "$@"; fi
shift
datadir=/var/lib/mysql
chown -R mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  echo "initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=socket >/dev/null
  sock=/run/mysqld/init.sock
  mariadbd --user=mysql --skip-networking --socket="$sock" &
  pid=$!
  for _ in $(seq 120); do mariadb-admin --socket="$sock" ping >/dev/null 2>&1 && break; sleep 0.5; done
  db="${MARIADB_DATABASE:?}" user="${MARIADB_USER:?}" pass="${MARIADB_PASSWORD:?}"
  mariadb --socket="$sock" <<SQL
CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '${user}'@'%' IDENTIFIED BY '${pass//\'/\'\'}';
GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${user}'@'%';
SQL
  mariadb-admin --socket="$sock" shutdown
  wait "$pid" || true
  echo "created database ${db} and user ${user}"
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "$@"
