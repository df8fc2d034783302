"""Pure: the alert and next-best-action rule language and its evaluation (a later issue)."""
