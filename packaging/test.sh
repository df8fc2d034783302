#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST_SERVICES=1 bash packaging/setup-dev.sh
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen
python -m pytest "$@"
