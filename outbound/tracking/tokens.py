"""Signed tokens for the links a message carries (unsubscribe, open pixel, click redirect).

A token is itsdangerous' URL-safe timed serialisation of the message's *link
key* (and, for a click, the link's position). The link key is an HMAC of the
message's identity (enrollment, step, address) under the deployment's secret:
it reveals no row id, address or name, it is the same for every attempt of
one send (so a retry writes the same links), and it is known before anything
is written, so a send renders before it touches the database. The message log
finds the message by it (table ``messagelink``). A token altered by one
character fails its HMAC check (compared in constant time by itsdangerous);
each purpose signs with its own salt, so an open token cannot be replayed as
an unsubscribe token.

Tokens expire (:data:`LIFETIMES`): the tracking links a year after the
message was sent, the unsubscribe link after five years, since mailbox
providers and recipients use it long after the mail arrived.

Tokens signed before link keys existed (``[row id]``, no time) are still read,
as ``LinkTarget(row_id=…)``; they age out by the same lifetimes, counted from
the message's creation (``tracking.message_links.message_row_of``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from itsdangerous import (
    BadData,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from outbound.settings import Settings


class Purpose(StrEnum):
    """What a signed link does."""

    UNSUBSCRIBE = "unsubscribe"
    OPEN = "open"
    CLICK = "click"


LIFETIMES = {
    Purpose.UNSUBSCRIBE: timedelta(days=5 * 365),
    Purpose.OPEN: timedelta(days=365),
    Purpose.CLICK: timedelta(days=365),
}
"""How long a link works after the message was sent."""


class SigningSecretMissing(RuntimeError):
    """Raised where a link must be signed but OUTBOUND_SIGNING_SECRET is not set."""


@dataclass(frozen=True)
class LinkTarget:
    """What a valid token names: a message by its link key (or, in a token signed before
    link keys existed, by its log row id) and, for clicks, a link in it."""

    link_key: str | None = None
    link_position: int | None = None
    row_id: int | None = None


class LinkSigner:
    """Make and read the tokens of one purpose set, with the deployment's secret.

    ``clock`` (seconds since the epoch) dates new tokens and judges their age.
    """

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise SigningSecretMissing(
                "OUTBOUND_SIGNING_SECRET must be set (at least 16 characters): it signs the "
                "unsubscribe, open and click links of every message"
            )
        self._key_secret = hashlib.sha256(f"outbound.message-link:{secret}".encode()).digest()

        class _Clocked(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"outbound.{purpose}.2", signer=_Clocked)
            for purpose in Purpose
        }
        self._before_link_keys = {
            purpose: URLSafeSerializer(secret, salt=f"outbound.{purpose.value}")
            for purpose in Purpose
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkSigner:
        return cls(settings.signing_secret.get_secret_value())

    def link_key(self, enrollment_id: int, position: int, to_address: str) -> str:
        """The opaque key of the message for (enrollment, step, address): 22 characters."""
        identity = f"{enrollment_id}:{position}:{to_address.lower()}".encode()
        digest = hmac.new(self._key_secret, identity, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, purpose: Purpose, link_key: str, link_position: int | None = None) -> str:
        payload: str | list[str | int] = link_key
        if link_position is not None:
            payload = [link_key, link_position]
        return str(self._serializers[purpose].dumps(payload))

    def read(self, purpose: Purpose, token: str) -> LinkTarget | None:
        """The target of a genuine, unexpired token of ``purpose``; None for anything else."""
        try:
            payload = self._serializers[purpose].loads(
                token, max_age=int(LIFETIMES[purpose].total_seconds())
            )
        except SignatureExpired:
            return None
        except BadData:
            return self._read_before_link_keys(purpose, token)
        if purpose is Purpose.CLICK:
            if isinstance(payload, list) and len(payload) == 2:
                key, position = payload
                if isinstance(key, str) and type(position) is int:
                    return LinkTarget(link_key=key, link_position=position)
            return None
        return LinkTarget(link_key=payload) if isinstance(payload, str) else None

    def _read_before_link_keys(self, purpose: Purpose, token: str) -> LinkTarget | None:
        try:
            payload = self._before_link_keys[purpose].loads(token)
        except BadData:
            return None
        if not isinstance(payload, list) or not all(type(v) is int for v in payload):
            return None
        if purpose is Purpose.CLICK and len(payload) == 2:
            return LinkTarget(row_id=payload[0], link_position=payload[1])
        if purpose is not Purpose.CLICK and len(payload) == 1:
            return LinkTarget(row_id=payload[0])
        return None
