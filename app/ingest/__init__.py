"""Submissions: the one way objects enter the exchange, used by TAXII POST and ``aisx ingest`` alike."""

from app.ingest.pipeline import submit, submit_positions
from app.ingest.posting import acting_as, authorise_post

__all__ = ["acting_as", "authorise_post", "submit", "submit_positions"]
