"""What can go wrong getting an access token: the provider refused, or did not answer."""

from __future__ import annotations


class TokenRefused(Exception):
    """The provider refused the mailbox's refresh token (revoked consent, ``invalid_grant``):
    only the user signing in again helps. The message is the provider's reason."""


class TokenUnavailable(Exception):
    """The token endpoint did not answer usefully (network, 5xx, ``temporarily_unavailable``):
    transient, retried like a server that is down."""
