#!/bin/bash
# Stand-in for the official image's healthcheck.sh: --connect and --innodb_initialized both
# come down to "the server answers a query on its socket" here.
exec mariadb --socket=/run/mysqld/mysqld.sock -N -e "SELECT 1" >/dev/null
