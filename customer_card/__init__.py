"""Customer Card: one customer, every channel, from an encrypted local cache."""

__version__ = "0.1.0"
