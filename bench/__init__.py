"""The AISX benchmark harness (see bench/README.md)."""
