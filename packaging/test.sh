#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST_SERVICES=1 bash packaging/setup-dev.sh
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen
python -m pytest "$@"
# Where the matching ran compiled above (packaging/build_native.py), its tests once more as
# plain Python: what machines without a C compiler run.
if [ $# -eq 0 ] && python -c "import customer_card.native as n; raise SystemExit(not n.compiled())"; then
  echo "the matching's tests again, as plain Python:"
  CUSTOMER_CARD_PURE_PYTHON=1 python -m pytest -q tests/unit/test_match_*.py \
    tests/unit/test_matching_*.py tests/unit/test_normalise_names.py
fi
