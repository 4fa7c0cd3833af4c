"""Operating the exchange: bootstrap, collections and grants (used by the CLI)."""
