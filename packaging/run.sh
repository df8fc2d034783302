#!/usr/bin/env bash
# The README's run command: set up (idempotent), then open Customer Card. With no cache
# configured it builds and opens the demo cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup-dev.sh
. .venv/bin/activate
exec customer-card "$@"
