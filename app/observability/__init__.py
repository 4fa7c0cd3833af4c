"""Instrumentation any layer may use: Prometheus metrics (``metrics``) and the logging set-up and request log
(``logs``). A base-layer package: it imports nothing else from app/ but the settings, so the store, the domain
services and the protocol can all count and log what they do without knowing who exposes it."""
