"""Send one signed webhook request (Standard Webhooks: webhook-id, -timestamp, -signature).

The request goes to the address the URL policy checked (``urls.Target``), with
the URL's host in ``Host`` and as the TLS server name. Redirects are not
followed (a redirect could lead anywhere). The answer's body is not read
beyond a little, and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
from standardwebhooks import Webhook

from outbound.webhooks.urls import Target

USER_AGENT = "Outbound-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(secret: str, event_id: str, when: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    signature = Webhook(secret).sign(event_id, when, body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


async def post(
    target: Target, headers: dict[str, str], body: str, timeout_seconds: float
) -> Answer:
    """POST ``body``; the answer's status, or what went wrong (a fixed short reason)."""
    request_headers = {
        **headers,
        "host": target.host,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
            response = await client.post(
                target.url,
                content=body.encode(),
                headers=request_headers,
                extensions={"sni_hostname": target.server_name},
            )
    except httpx.TimeoutException:
        return Answer(None, "timed out")
    except httpx.HTTPError as error:
        return Answer(None, f"could not connect ({type(error).__name__})")
    return Answer(
        response.status_code, None if response.is_success else f"HTTP {response.status_code}"
    )
