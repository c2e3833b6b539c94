#!/usr/bin/env bash
# The whole test suite, every tier, in order: unit, lint, integration (local podman nodes),
# e2e (the real Pulumi engine).
# Run through `make test`, which installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

export SMACK_REQUIRED_TIERS="unit,lint,integration,e2e"
started=$(date +%s)
# pytest exits 5 when it collected nothing; set -e treats that (and any failure) as failure,
# and tests/conftest.py fails the run when a required tier passed nothing or anything skipped.
.venv/bin/python -m pytest -p no:cacheprovider --durations=25 tests/unit tests/lint tests/integration tests/e2e "$@"
echo "test suite passed in $(( $(date +%s) - started ))s"
