"""AISX, the AI Security Exchange: a TAXII 2.1 / STIX 2.1 server for AI threat intelligence."""

__version__ = "0.1.0"
