"""Pure matching: normalisers, comparisons and linking decisions. No I/O."""
