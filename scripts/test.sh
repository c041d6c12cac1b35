#!/usr/bin/env bash
# All tests: lit + FileCheck, then pytest. Fails if either fails or collects nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/lit -sv test || status=1
.venv/bin/pytest test
pytest_status=$?
if [[ $pytest_status -eq 5 ]]; then
  echo "[test] error: pytest collected no tests" >&2; status=1
elif [[ $pytest_status -ne 0 ]]; then
  status=1
fi
exit $status
