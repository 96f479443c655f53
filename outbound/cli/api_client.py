"""The management API as the command line reaches it: over HTTP, with a saved key.

Usage::

    api = ApiClient.from_config()          # OUTBOUND_API_URL / OUTBOUND_API_KEY, else login's file
    campaigns = api.get("/campaigns")      # JSON, or ApiRefused / ApiUnreachable

The commands never touch the database: everything goes through the API, so a key's role
and workspace apply exactly as they do to any other client. ``TRANSPORT`` lets tests
swap the network for an ``httpx`` transport (they prefer a real loopback server).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

URL_VARIABLE = "OUTBOUND_API_URL"
KEY_VARIABLE = "OUTBOUND_API_KEY"
DEFAULT_URL = "http://localhost:8000"
TIMEOUT_SECONDS = 30.0
MAX_URL_CHARS = 2_000
MAX_KEY_CHARS = 500
CONFIG_FILE = "config.json"

TRANSPORT: httpx.BaseTransport | None = None  # tests only: None is the network


class ApiRefused(Exception):
    """The API answered 4xx/5xx: its problems (field and reason), in its one shape."""

    def __init__(self, status: int, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.problems = problems


class ApiUnreachable(Exception):
    """No answer from the API (refused connection, DNS, timeout)."""


class NotLoggedIn(Exception):
    """Neither the environment nor the config file names a key."""


def config_path() -> Path:
    """Where ``outbound login`` keeps the URL and key (the user's config dir, mode 0600)."""
    return Path(typer.get_app_dir("outbound")) / CONFIG_FILE


def save_login(url: str, key: str) -> Path:
    """Write the URL and key, readable by this user only (0600 from the start)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"url": url, "key": key}, file)
    path.chmod(0o600)  # a file made before, with a wider mode
    return path


def saved_login() -> tuple[str | None, str | None]:
    """The URL and key of the config file, if any (unreadable or malformed: none)."""
    try:
        data = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    url, key = data.get("url"), data.get("key")
    return (url if isinstance(url, str) else None, key if isinstance(key, str) else None)


@dataclass(frozen=True)
class ApiClient:
    """A management API URL and key; each call opens one short-lived httpx client."""

    url: str
    key: str

    @classmethod
    def from_config(cls) -> ApiClient:
        """The environment first (scripts), then the file ``outbound login`` wrote."""
        file_url, file_key = saved_login()
        url = os.environ.get(URL_VARIABLE) or file_url or DEFAULT_URL
        key = os.environ.get(KEY_VARIABLE) or file_key
        if not key:
            raise NotLoggedIn
        return cls(url.rstrip("/"), key)

    @contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        with httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=TIMEOUT_SECONDS,
            transport=TRANSPORT,
        ) as client:
            yield client

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request; a refusal raises ``ApiRefused``, no answer ``ApiUnreachable``."""
        try:
            with self._client() as client:
                response = client.request(method, path, **options)
        except httpx.TransportError as error:
            raise ApiUnreachable(f"{self.url}: {type(error).__name__}: {error}") from None
        if response.status_code >= 400:
            raise ApiRefused(response.status_code, _problems(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        """GET, answered JSON."""
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: Any = None, **options: Any) -> Any:
        """POST a JSON body (or ``files=``), answered JSON."""
        if body is not None:
            options["json"] = body
        return self.request("POST", path, **options).json()


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    """``{"detail": [{"field", "reason"}]}``, or one problem made from whatever came."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list) and all(isinstance(item, dict) for item in detail):
        return detail
    return [{"field": "response", "reason": f"HTTP {response.status_code}"}]
