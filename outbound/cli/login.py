"""``outbound login``: the API's URL and a key, checked and kept in the user's config dir."""

from __future__ import annotations

from typing import Annotated

import typer

from outbound.cli.api_client import (
    DEFAULT_URL,
    MAX_KEY_CHARS,
    MAX_URL_CHARS,
    URL_VARIABLE,
    ApiClient,
    save_login,
)
from outbound.cli.output import USAGE, api_errors, console, errors


def login(
    url: Annotated[
        str, typer.Option(envvar=URL_VARIABLE, help="The management API's URL.")
    ] = DEFAULT_URL,
    key: Annotated[
        str | None,
        typer.Option(help="An API key (asked for, hidden, when not given)."),
    ] = None,
) -> None:
    """Check an API key against the API and keep it (file mode 0600) for the other commands.

    Scripts may set OUTBOUND_API_URL and OUTBOUND_API_KEY instead; they win over the file.
    """
    if key is None:
        key = typer.prompt("API key", hide_input=True)
    url, key = url.strip().rstrip("/"), key.strip()
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL_CHARS:
        errors.print("--url: an http:// or https:// URL is needed")
        raise typer.Exit(USAGE)
    if not key or len(key) > MAX_KEY_CHARS:
        errors.print(f"--key: between 1 and {MAX_KEY_CHARS} characters")
        raise typer.Exit(USAGE)
    with api_errors():
        me = ApiClient(url, key).get("/me")
    path = save_login(url, key)
    who = me.get("email") or me.get("user", {}).get("email") if isinstance(me, dict) else None
    console.print(f"logged in to {url}" + (f" as {who}" if who else "") + f"; key kept in {path}")
