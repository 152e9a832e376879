#!/usr/bin/env bash
# Mutation testing (mutmut) of one module against the tests that should notice it breaking:
#   ./scripts/mutation.sh chatapp/security.py tests/test_security.py
#   ./scripts/mutation.sh --min-score 80 chatapp/security.py tests/test_security.py
#   ./scripts/mutation.sh --diffs chatapp/services/accounts.py tests/services/test_accounts.py ...
# Runs in a throwaway git worktree of HEAD (mutmut rewrites a copy of the code there: commit
# first), lists the mutants that survived or that no test ran, and ends with one line for
# machines:
#   mutation-summary module=chatapp/security.py mutants=118 killed=95 timeout=0 survived=23 no_tests=0 other=0 score=80.5 min_score=80 seconds=21
# score = (killed + timeout) / mutants, in per cent (mutmut counts a timeout as caught; equivalent
# mutants are not told apart here: TESTING.md lists them by hand).
# Options: --min-score N   exit 1 if the score is below N (scripts/test.sh does this under CI)
#          --diffs         print each survivor's whole diff instead of its first changed line
#          --only FILE     run only the mutants named in FILE (one per line, as listed: e.g. the
#                          survivors of an earlier run, after tests were written for them); the
#                          others count as "other" in the summary
#          --max-children N  run at most N mutants at once (mutmut's default: one per CPU); on a
#                          shared machine: nice -n 19 ./scripts/mutation.sh --max-children 1 ...
#                          With 1, every mutant's run reuses one database migrated beforehand
#                          (TEST_MYSQL_REUSE_DATABASE, tests/conftest.py): about twice as fast.
# Needs MariaDB for tests/services. Give it tests that run the module in-process. mutmut runs
# the tests once, then forks a process per mutant: a module-level thread pool whose threads
# started before the fork (state/db_call.py's, services/push.py's) never runs work in the
# mutant's process, so a test going through it hangs and every mutant it covers is counted as
# a timeout, that is as killed (tests/state/, the schedule test in test_housekeeping.py).
# tests/services/test_push.py and test_events_on_commit.py give those modules a pool of the
# test's own (tests/support/pools.py) and are fine. Code run in a subprocess
# (test_image_memory.py) is not seen at all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
min_score="" diffs="" max_children="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --min-score) min_score="$2"; shift 2 ;;
    --diffs) diffs=1; shift ;;
    --max-children) max_children="$2"; shift 2 ;;
    --only) only="$(realpath "$2")"; shift 2 ;;
    --) shift; break ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: $0 [--min-score N] [--diffs] [--max-children N] <module.py> <test files...>" >&2; exit 2; }
module="$1"; shift
[ -f "$module" ] || { echo "no such module: $module" >&2; exit 2; }
setup_venv requirements-dev.txt
# mutmut (and setproctitle, which it pulls in and which renames gunicorn's processes) goes into
# a directory of its own, never into .venv.
tools="$PWD/.mutation-tools"
[ -x "$tools/bin/mutmut" ] || pip install -q --disable-pip-version-check --target "$tools" "mutmut==3.8.1"
export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}" PATH="$tools/bin:$PATH"
started=$SECONDS
scratch="$(mktemp -d)"
work="$scratch/chatapp-mutation"
git worktree add -q --detach "$work" HEAD
trap 'git worktree remove --force "$work"; rm -rf "$scratch"' EXIT
ln -s "$PWD/.venv" "$work/.venv"
tests=$(printf '"%s", ' "$@")
cat >> "$work/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["$module"]
pytest_add_cli_args_test_selection = [${tests%, }]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly"]
also_copy = ["chatapp", "tests", "bench", "rxconfig.py", "alembic", "alembic.ini", "assets"]
TOML
cd "$work"
# One mutant at a time: every run reuses one database migrated here (tests/conftest.py) instead
# of making and migrating its own; dropped at the end.
reuse_db=""
if [ "$max_children" = 1 ]; then
  reuse_db=$(python - 2>/dev/null <<'PY' || true
import os
from bench.instances import DatabaseServer
server = DatabaseServer(os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"))
if server.reachable() is None:
    from chatapp.db import upgrade
    name = server.create_database("chatapp_mutation")
    upgrade(server.url(name))
    print(name)
PY
)
fi
drop_db() {
  [ -n "$reuse_db" ] || return 0
  (cd "$work" && python -c "import os, sys; from bench.instances import DatabaseServer; \
DatabaseServer(os.environ.get('TEST_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306')).drop_database(sys.argv[1])" "$reuse_db") || true
}
trap 'drop_db; git worktree remove --force "$work"; rm -rf "$scratch"' EXIT
names=()
[ -z "$only" ] || mapfile -t names < <(grep -oE '[A-Za-z0-9_.ǁ]+__mutmut_[0-9]+' "$only")
TEST_MYSQL_REUSE_DATABASE="$reuse_db" mutmut run ${max_children:+--max-children "$max_children"} "${names[@]}" >"$scratch/run.log" 2>&1 || true
mutmut export-cicd-stats >/dev/null 2>&1 || true
results=$(mutmut results --all true 2>/dev/null || true)
for m in $(grep -E ': (survived|no tests|suspicious|segfault)' <<<"$results" | awk '{print $1}' | tr -d ':'); do
  status=$(grep -F "$m:" <<<"$results" | head -1 | sed 's/.*: //')
  if [ -n "$diffs" ]; then
    echo "=== $m ($status)"; mutmut show "$m" 2>/dev/null | sed 1d
  else
    echo "  $m ($status): $(mutmut show "$m" 2>/dev/null | grep '^+[^+]' | head -1)"
  fi
done
summary=$(MUTATION_ONLY="$only" python - "$module" "${min_score:-}" $((SECONDS - started)) <<'PY'
import json, os, sys
module, min_score, seconds = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    s = json.load(open("mutants/mutmut-cicd-stats.json"))
except (OSError, ValueError):
    s = {}
total, killed, timeout = s.get("total", 0), s.get("killed", 0), s.get("timeout", 0)
survived, no_tests = s.get("survived", 0), s.get("no_tests", 0)
other = total - killed - timeout - survived - no_tests
score = 100.0 * (killed + timeout) / total if total else 0.0
print(f"mutation-summary module={module} mutants={total} killed={killed} timeout={timeout} "
      f"survived={survived} no_tests={no_tests} other={other} score={score:.1f} "
      f"min_score={min_score or '-'} seconds={seconds}")
if os.environ.get("MUTATION_ONLY"):  # (--only: the score above counts the others as not caught)
    print(f"mutation-only module={module} run={total - other} killed={killed + timeout} "
          f"survived={survived + no_tests}")
if other == total:
    sys.exit(3)  # no verdict at all: mutmut or the tests failed before any mutant ran
sys.exit(0 if not min_score or score >= float(min_score) else 1)
PY
) && status=0 || status=$?
if [ "$status" -eq 3 ]; then
  echo "mutmut gave no verdict; the end of its output:" >&2
  tail -30 "$scratch/run.log" >&2
fi
echo "$summary"
if [ "$status" -eq 1 ]; then
  echo "mutation score of $module is below $min_score: a test that killed mutants is gone or weaker" >&2
fi
exit "$status"
