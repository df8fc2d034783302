"""Customer Card: one customer, every channel, from an encrypted local cache."""

__version__ = "0.1.0"

from customer_card import native

native.install()  # the compiled matching, where it is built for exactly these sources
