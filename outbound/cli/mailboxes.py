"""``outbound mailboxes list|add``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from outbound.cli.output import JsonOption, call, console, print_json, read_body_file, table

mailboxes = typer.Typer(help="Mailboxes that campaigns send through.", no_args_is_help=True)


@mailboxes.command("list")
def list_mailboxes(as_json: JsonOption = False) -> None:
    """The mailboxes this key may use."""
    found = call(lambda api: api.get("/mailboxes"))
    if as_json:
        print_json(found)
        return
    rows = [
        (
            m.get("id"),
            m.get("from_address"),
            m.get("smtp_host"),
            m.get("daily_limit"),
            m.get("connection_state"),
        )
        for m in found
    ]
    console.print(table(None, ("id", "from", "smtp host", "daily limit", "connection"), rows))


@mailboxes.command("add")
def add_mailbox(
    file: Annotated[
        Path, typer.Option("-f", "--file", help="YAML (or JSON): the POST /mailboxes body.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Connect a mailbox (admins); its password is write-only, never shown again."""
    body = read_body_file(file)
    made = call(lambda api: api.post("/mailboxes", body))
    if as_json:
        print_json(made)
        return
    console.print(f"mailbox {made['id']} ({made.get('from_address')}) added")
