"""Submissions: the one way objects enter the exchange, used by TAXII POST and ``aisx ingest`` alike."""

from app.ingest.pipeline import submit

__all__ = ["submit"]
