"""API keys: made here, shown once, stored only as an Argon2 hash.

A key reads ``obk_1a2b3c4d5e6f_<43 random characters>``. Its first part, the
prefix, is stored as it is: it finds the key's row without trying every hash,
and it names the key in the audit log and the key list, so a leaked key can be
recognised (secret scanners look for ``obk_``) and revoked. The rest is 256
random bits; the whole key is hashed with Argon2id (``argon2-cffi``).

Argon2 is slow on purpose (tens of milliseconds); every API request carries a
key, so each process remembers, per key row, a digest of the key it last
verified and checks later requests against that (:class:`KeyVerifier`). The
row is read on every request all the same, so a revoked key fails at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_START = "obk_"
_PREFIX_HEX = 12
# OWASP's Argon2id minimum (19 MiB, 2 passes): the key is random, the hash only needs
# to make a stolen table useless.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class NewKey:
    """A key as made: ``secret`` is shown to its owner once and never stored."""

    secret: str
    prefix: str
    secret_hash: str


def make_key() -> NewKey:
    """A new random key, its prefix and its hash."""
    prefix = KEY_START + secrets.token_hex(_PREFIX_HEX // 2)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(secret=secret, prefix=prefix, secret_hash=_HASHER.hash(secret))


def prefix_of(presented: str) -> str | None:
    """The prefix of a presented key, or None when it is not shaped like one of ours."""
    head = presented[: len(KEY_START) + _PREFIX_HEX]
    if not head.startswith(KEY_START) or presented[len(head) : len(head) + 1] != "_":
        return None
    return head


class KeyVerifier:
    """Checks presented keys against stored hashes, remembering recent successes."""

    def __init__(self, remembered: int = 4096) -> None:
        self._verified: OrderedDict[int, bytes] = OrderedDict()
        self._remembered = remembered
        self._lock = threading.Lock()

    def verify(self, key_id: int, secret_hash: str, presented: str) -> bool:
        """True if ``presented`` is the key whose hash is ``secret_hash``."""
        digest = hashlib.blake2b(presented.encode(), digest_size=32).digest()
        with self._lock:
            known = self._verified.get(key_id)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        try:
            _HASHER.verify(secret_hash, presented)
        except (VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._verified[key_id] = digest
            self._verified.move_to_end(key_id)
            while len(self._verified) > self._remembered:
                self._verified.popitem(last=False)
        return True
