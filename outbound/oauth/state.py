"""The ``state`` of a sign-in: signed, bound to the workspace and user, used once.

``state`` travels through the admin's browser and the provider and comes back
to the callback, which has no API key: the signature (the deployment's signing
secret) proves Outbound made it, and the ``oauth_connect`` row it names, claimed
once in a conditional UPDATE, makes a replayed state connect nothing. A state
from another deployment, a forged one, an expired one and a used one are all
refused alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import update
from sqlmodel import Session, col

from outbound.store.tables import OAuthConnect

LIFETIME = timedelta(minutes=10)
"""Sign in within this long of starting."""
_SALT = "outbound.oauth-state"


@dataclass(frozen=True)
class StateClaims:
    """What a genuine state names."""

    connect_id: int
    workspace_id: int
    user_id: int


class StateSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def sign(self, row: OAuthConnect) -> str:
        assert row.id is not None
        return str(self._serializer.dumps([row.id, row.workspace_id, row.user_id]))

    def read(self, state: str) -> StateClaims | None:
        """The claims of a genuine state younger than :data:`LIFETIME`; None otherwise."""
        try:
            connect_id, workspace_id, user_id = self._serializer.loads(
                state, max_age=int(LIFETIME.total_seconds())
            )
            return StateClaims(int(connect_id), int(workspace_id), int(user_id))
        except (BadData, TypeError, ValueError):
            return None


def claim(session: Session, claims: StateClaims, now: datetime) -> OAuthConnect | None:
    """Mark the sign-in used and return it; None if it was used, expired or is unknown."""
    taken = session.exec(  # type: ignore[call-overload]
        update(OAuthConnect)
        .where(
            col(OAuthConnect.id) == claims.connect_id,
            col(OAuthConnect.workspace_id) == claims.workspace_id,
            col(OAuthConnect.user_id) == claims.user_id,
            col(OAuthConnect.used_at).is_(None),
            col(OAuthConnect.expires_at) > now,
        )
        .values(used_at=now)
    ).rowcount
    session.commit()
    return session.get(OAuthConnect, claims.connect_id) if taken else None
