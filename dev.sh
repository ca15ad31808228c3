#!/usr/bin/env bash
# The two set-up commands of the README, on a fresh machine with Python >= 3.11 and pip:
#   ./dev.sh run    create .venv if needed, then run the main job on the shipped defaults:
#                   the design comparison, written to reports/deepseek-v3-designs/
#   ./dev.sh test   create .venv if needed, then lint, type-check and run the test suite
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

ensure_env() {  # $1: pip extras ("" or "[test]")
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "mpft-sim needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2; exit 1; }
  local stamp="$VENV/.installed$1-$(cksum < pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".$1"
    touch "$stamp"
  fi
}

ensure_browser() {  # the report tests open the HTML pages in headless Chromium
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return
  fi
  local install="apt-get install -y -qq chromium chromium-driver"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && $install
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo $install
  else
    echo "The report tests render pages in headless Chromium. Install Debian's chromium and" >&2
    echo "chromium-driver (sudo $install), then run ./dev.sh test again." >&2
    exit 1
  fi
}

case "${1:-}" in
  run)
    ensure_env ""
    shift
    # the main job: one (shortened) DeepSeek-V3 training step on the deployed multi-plane
    # fat-tree, the multi-rail tree, a single-plane tree and the MPFT with a plane down
    exec "$VENV/bin/mpft-sim" compare topologies/deepseek-v3-2048.yaml \
      topologies/mrft-2048.yaml topologies/ft2-2048.yaml \
      topologies/deepseek-v3-2048-failed-plane.yaml \
      --workload workloads/deepseek-v3-train-short.yaml \
      -o reports/deepseek-v3-designs "$@"
    ;;
  test)
    ensure_env "[test]"
    ensure_browser
    shift
    "$VENV/bin/ruff" check .
    "$VENV/bin/mypy"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh run | test [pytest args]" >&2
    exit 2
    ;;
esac
