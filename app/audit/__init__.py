"""The audit trail: who did what, when, to which collection, with how many objects; chained (tamper-evident)."""

from app.audit.log import note_key_use, note_sensitive_read, record

__all__ = ["note_key_use", "note_sensitive_read", "record"]
