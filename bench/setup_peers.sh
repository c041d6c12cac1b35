#!/usr/bin/env bash
# Install the peer engines bench/peers.py compares with: the `peers` extras into .venv, and
# litert-torch (the PyTorch -> LiteRT converter) into its own venv under bench/.engines/,
# since it pins packages (typing_extensions, jax, transformers) the project's venv should not
# get. Both use torch==2.13.0, the CPU build on local disk. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup_peers]\033[0m %s\n' "$*"; }

[[ -x .venv/bin/python ]] || { echo "[setup_peers] error: no .venv; run scripts/setup.sh first" >&2; exit 1; }
say "installing the peers extras into .venv"
.venv/bin/pip install -q -e '.[bench,peers]'

side=bench/.engines/litert-torch
litert_torch="litert-torch==0.10.0"   # the converter's pin (with torch==2.13.0, the project's)
if [[ ! -x $side/bin/python ]] || ! $side/bin/python -c "import litert_torch" 2>/dev/null; then
  say "creating $side ($litert_torch, torch==2.13.0)"
  .venv/bin/python -m venv "$side"
  "$side/bin/pip" install -q "torch==2.13.0" "$litert_torch"
fi
say "done: .venv/bin/python bench/peers.py --quick"
