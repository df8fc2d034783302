"""The demo cache's size and seed, apart from the generator so that reading them is cheap."""

DEFAULT_CUSTOMERS = 2000
DEFAULT_SEED = 42
