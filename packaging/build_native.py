"""Compiles the matching's hot path with mypyc where a C compiler is found (optional: the
sources run as they are otherwise). Run by setup-dev.sh; see customer_card/native.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's, whatever the venv

from customer_card.native import main

raise SystemExit(main())
