"""pdvault: a personal-data vault."""

__version__ = "0.1.0"
