"""API keys: a public key id and a 256-bit random secret, of which only a SHA-256 is stored."""

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    # A fast hash is right here: the secret has 256 bits of entropy, so it cannot be guessed offline,
    # and a slow KDF on every request would make each TAXII page several times slower.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    key_id = "aisx_k_" + secrets.token_hex(8)
    secret = "aisx_s_" + secrets.token_urlsafe(32)
    return NewKey(key_id, secret, hash_secret(secret))
