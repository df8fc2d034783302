"""Use cases: each owns one transaction and speaks only typed store functions."""
