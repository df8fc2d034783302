"""Compiles the matching's hot path with mypyc where a C compiler is found (optional: the
sources run as they are otherwise). Run by setup-dev.sh; see customer_card/native.py."""

from customer_card.native import main

raise SystemExit(main())
