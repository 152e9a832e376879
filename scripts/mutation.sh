#!/usr/bin/env bash
# Mutation testing (mutmut) of one module against the tests that should notice it breaking:
#   ./scripts/mutation.sh chatapp/security.py tests/test_security.py
#   ./scripts/mutation.sh chatapp/services/accounts.py tests/services/test_accounts.py tests/services/test_abuse_limits.py
# Runs in a throwaway git worktree of HEAD (mutmut rewrites a copy of the code there), prints the
# share of mutants killed and lists the survivors with their diffs. Too slow for every CI run:
# TESTING.md has the figures and which survivors are equivalent. Needs MariaDB for tests/services.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
setup_venv requirements-dev.txt
# mutmut (and setproctitle, which it pulls in and which renames gunicorn's processes) goes into
# a directory of its own, never into .venv.
tools="$PWD/.mutation-tools"
[ -x "$tools/bin/mutmut" ] || pip install -q --target "$tools" "mutmut==3.8.1"
export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}" PATH="$tools/bin:$PATH"
module="$1"; shift
[ $# -gt 0 ] || { echo "usage: $0 <module.py> <test files...>" >&2; exit 2; }
work="$(mktemp -d)/chatapp-mutation"
git worktree add -q --detach "$work" HEAD
trap 'git worktree remove --force "$work"' EXIT
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
mutmut run >/dev/null 2>&1 || true
results=$(mutmut results --all true 2>/dev/null || mutmut results 2>/dev/null)
total=$(grep -c ': ' <<<"$results" || true)
survived=$(grep -c ': survived' <<<"$results" || true)
untested=$(grep -c ': no tests' <<<"$results" || true)
killed=$(grep -c ': killed' <<<"$results" || true)
echo "$module: $killed killed of $total mutants ($survived survived, $untested with no test)"
for m in $(grep -E ': (survived|no tests)' <<<"$results" | awk '{print $1}' | tr -d ':'); do
  echo "  $m: $(mutmut show "$m" 2>/dev/null | grep '^+[^+]' | head -1)"
done
