#!/usr/bin/env bash
# All tests: lit + FileCheck, then pytest (slow, qemu and training tests included; the fast
# subset is `.venv/bin/pytest -m "not slow"`). Fails if either fails or collects nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/lit -sv test || status=1
# Every pytest file (test/ and experiments/, pyproject's testpaths), the 15 slowest listed.
.venv/bin/pytest test experiments --durations=15
pytest_status=$?
if [[ $pytest_status -eq 5 ]]; then
  echo "[test] error: pytest collected no tests" >&2; status=1
elif [[ $pytest_status -ne 0 ]]; then
  status=1
fi
exit $status
