"""Feeds: TAXII collections whose membership is computed from a selector when objects arrive, optionally
mirroring an upstream TAXII 2.1 collection."""
