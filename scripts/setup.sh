#!/usr/bin/env bash
# Set up everything PatSparse needs on a Debian 12 machine: the Debian packages
# (when missing; needs root or sudo), a .venv with the pinned Python packages, and
# an editable install. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# 1. Debian packages -----------------------------------------------------------
mapfile -t wanted < <(grep -v '^\s*#' python/patsparse/debian-packages.txt | sed '/^\s*$/d')
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then run_root=(); 
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then run_root=(sudo -n);
  else die "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"; fi
  say "installing Debian packages: ${missing[*]}"
  "${run_root[@]}" apt-get update -q || die "apt-get update failed (no network to the Debian mirror?)"
  DEBIAN_FRONTEND=noninteractive "${run_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
fi

# 2. Python virtual environment ------------------------------------------------
python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "python3 not found; install it with: apt-get install python3 python3-venv"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is needed ($python is $("$python" --version 2>&1))"
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  "$python" -m venv .venv 2>/dev/null || {
    [[ $(id -u) -eq 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && "$python" -m venv .venv
  } || die "cannot create a virtual environment; install it with: apt-get install python3-venv"
fi

# 3. The package and its pinned dependencies (pyproject.toml) -------------------
stamp=.venv/.patsparse-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  say "installing patsparse and its pinned dependencies into .venv (torch 2.13.0 CPU build from local disk)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev,bench]' 2> >(grep -v "WARNING: Location" >&2) \
    || die "pip install -e '.[dev,bench]' failed"
  touch "$stamp"
else
  say ".venv is up to date"
fi

.venv/bin/patsparse doctor >/dev/null || { .venv/bin/patsparse doctor; die "toolchain check failed"; }
say "toolchain OK (.venv/bin/patsparse doctor)"
