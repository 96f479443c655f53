"""Signed tokens for the links a message carries (unsubscribe, open pixel, click redirect).

A token is itsdangerous' URL-safe signed serialisation of the message log row
id (and, for a click, the link's position): no address or name ever appears in
a URL, and a token altered by one character fails its HMAC check (compared in
constant time by itsdangerous). Each purpose signs with its own salt, so an
open token cannot be replayed as an unsubscribe token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadData, URLSafeSerializer

from outbound.settings import Settings


class Purpose(StrEnum):
    """What a signed link does."""

    UNSUBSCRIBE = "unsubscribe"
    OPEN = "open"
    CLICK = "click"


class SigningSecretMissing(RuntimeError):
    """Raised where a link must be signed but OUTBOUND_SIGNING_SECRET is not set."""


@dataclass(frozen=True)
class LinkTarget:
    """What a valid token names: a message log row and, for clicks, a link in it."""

    message_row_id: int
    link_position: int | None = None


class LinkSigner:
    """Make and read the tokens of one purpose set, with the deployment's secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise SigningSecretMissing(
                "OUTBOUND_SIGNING_SECRET must be set (at least 16 characters): it signs the "
                "unsubscribe, open and click links of every message"
            )
        self._serializers = {
            purpose: URLSafeSerializer(secret, salt=f"outbound.{purpose.value}")
            for purpose in Purpose
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkSigner:
        return cls(settings.signing_secret.get_secret_value())

    def sign(self, purpose: Purpose, target: LinkTarget) -> str:
        payload: list[int] = [target.message_row_id]
        if target.link_position is not None:
            payload.append(target.link_position)
        return str(self._serializers[purpose].dumps(payload))

    def read(self, purpose: Purpose, token: str) -> LinkTarget | None:
        """The target of a genuine token of ``purpose``; None for anything else."""
        try:
            payload = self._serializers[purpose].loads(token)
        except BadData:
            return None
        if not isinstance(payload, list) or not all(type(v) is int for v in payload):
            return None
        if purpose is Purpose.CLICK and len(payload) == 2:
            return LinkTarget(payload[0], payload[1])
        if purpose is not Purpose.CLICK and len(payload) == 1:
            return LinkTarget(payload[0])
        return None
