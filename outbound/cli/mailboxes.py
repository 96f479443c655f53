"""``outbound mailboxes list|add|show|resume``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


@mailboxes.command("show")
def show_mailbox(mailbox_id: int, as_json: JsonOption = False) -> None:
    """One mailbox: its connection and the reputation guard's figures."""
    found = call(lambda api: api.get(f"/mailboxes/{mailbox_id}"))
    if as_json:
        print_json(found)
        return
    print_mailbox(found)


@mailboxes.command("resume")
def resume_mailbox(mailbox_id: int, as_json: JsonOption = False) -> None:
    """Let a mailbox the reputation guard paused send again (admins), once the cause is
    fixed: its figures start afresh and its waiting sequences go on."""
    resumed = call(lambda api: api.post(f"/mailboxes/{mailbox_id}/resume"))
    if as_json:
        print_json(resumed)
        return
    print_mailbox(resumed["mailbox"])
    console.print(f"resumed: {resumed['sequences_resumed']} waiting sequences go on")


def print_mailbox(mailbox: dict[str, Any]) -> None:
    """A mailbox's connection, and its figures where the answer has them."""
    console.print(
        f"mailbox {mailbox.get('id')} ({mailbox.get('from_address')}): "
        f"{mailbox.get('connection_state')}",
        markup=False,
        highlight=False,
    )
    if mailbox.get("paused_reason"):
        console.print(f"  paused: {mailbox['paused_reason']}", markup=False, highlight=False)
    figures = mailbox.get("reputation")
    if not figures:
        return
    rows = [
        (
            label,
            figures[count],
            f"{figures[f'{rate}_rate']:.2%}",
            f"{figures[f'max_{rate}_rate']:.2%}",
        )
        for label, count, rate in (
            ("hard bounces", "hard_bounces", "hard_bounce"),
            ("complaints", "complaints", "complaint"),
        )
    ]
    title = f"last {figures['sends']} sends (of at most {figures['window_sends']})"
    console.print(table(title, ("", "count", "rate", "pauses above"), rows))
