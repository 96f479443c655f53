"""``outbound``: run the embedded stack and look at what it sent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outbound.cli.admin import admin, db
from outbound.cli.campaigns import campaigns
from outbound.cli.login import login
from outbound.cli.mailboxes import mailboxes
from outbound.cli.prospects import prospects
from outbound.devstack.run import DevStackConfig, run_dev_stack
from outbound.devstack.sink import read_sink_folder
from outbound.devstack.sms_sink import read_sms_sink, sms_sink_dir

app = typer.Typer(help="Outbound: outreach sequences delivered on Temporal.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(admin, name="admin")
app.command()(login)
app.add_typer(mailboxes, name="mailboxes")
app.add_typer(campaigns, name="campaigns")
app.add_typer(prospects, name="prospects")
console = Console()
SUBJECT_WIDTH = 20  # the subject may wrap, at this width or wider
SMS_BODY_WIDTH = 40  # a text's body is shown up to this many characters


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where databases and sent mail are kept.")] = Path(
        "var"
    ),
    api_port: Annotated[
        int, typer.Option(help="The management API's port.")
    ] = DevStackConfig.api_port,
    public_port: Annotated[
        int, typer.Option(help="The public app's port (links in messages point here).")
    ] = DevStackConfig.public_port,
    smtp_port: int = DevStackConfig.smtp_port,
    temporal_port: int = DevStackConfig.temporal_port,
    ui_port: int = DevStackConfig.ui_port,
    dns_port: Annotated[
        int, typer.Option(help="UDP port of the local DNS server the address check asks.")
    ] = DevStackConfig.dns_port,
    sms_port: Annotated[
        int, typer.Option(help="The local SMS gateway's port (it speaks Twilio's API).")
    ] = DevStackConfig.sms_port,
    offline: Annotated[
        bool,
        typer.Option(
            help="Ask no DNS server of this machine: domains other than the examples' "
            "are unverified (and sent to the sink)."
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each runs Python on one core).")
    ] = DevStackConfig.workers,
) -> None:
    """Run everything locally: Temporal dev server + UI, SMTP sink, SMS gateway, workers and
    API."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = DevStackConfig(
        data_dir=data_dir,
        api_port=api_port,
        public_port=public_port,
        smtp_port=smtp_port,
        temporal_port=temporal_port,
        ui_port=ui_port,
        dns_port=dns_port,
        sms_port=sms_port,
        offline=offline,
        workers=workers,
    )
    raise typer.Exit(run_dev_stack(config))


@app.command()
def sink(
    data_dir: Annotated[Path, typer.Option(help="The dev stack's data folder.")] = Path("var"),
    last: Annotated[int, typer.Option(help="How many of the newest messages to show.")] = 20,
    sms: Annotated[
        bool, typer.Option("--sms", help="The texts of the local SMS gateway instead of mail.")
    ] = False,
) -> None:
    """List the messages the local SMTP sink (or, with --sms, SMS gateway) received, newest
    first."""
    if sms:
        print_whole(*sms_table(sms_rows(data_dir, last)))
        return
    folder = data_dir / "sink"
    found = reversed(read_sink_folder(folder)[-last:] if folder.exists() else [])
    rows = [
        (
            path.name,
            str(message["To"]),
            str(message["Subject"]),
            str(message["Message-ID"]),
            str(message.get("In-Reply-To") or ""),
        )
        for path, message in found
    ]
    print_whole(*sink_table(rows))


def print_whole(table: Table, needed: int) -> None:
    """Print ``table`` at the width it ``needed`` (wider than the terminal: lines wrap)."""
    wide = console if console.width >= needed else Console(width=needed)
    wide.print(table, crop=False)


def sink_table(rows: list[tuple[str, str, str, str, str]]) -> tuple[Table, int]:
    """The table, and the width it needs: addresses, ids and file names are never cut or
    broken (a person copies them), only the subject wraps; a terminal narrower than that
    wraps the lines instead."""
    table = Table()
    needed = 1  # the left border; each column adds its width, padding and right border
    for index, name in enumerate(("file", "to", "subject", "message-id", "in-reply-to")):
        if name == "subject":
            width = SUBJECT_WIDTH
            table.add_column(name, min_width=width)
        else:
            width = max([len(name), *(len(row[index]) for row in rows)])
            table.add_column(name, no_wrap=True, min_width=width)
        needed += width + 3
    for row in rows:
        table.add_row(*row)
    return table, needed


def sms_rows(data_dir: Path, last: int) -> list[tuple[str, str, str, str, str]]:
    """The newest ``last`` texts the dev stack's SMS gateway recorded, as table rows; the
    body on one line, cut to ``SMS_BODY_WIDTH`` characters."""
    rows = []
    for message in read_sms_sink(sms_sink_dir(data_dir))[:last]:
        body = " ".join(message.body.split())
        rows.append(
            (
                message.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                message.to_number,
                message.from_number or str(message.messaging_service_sid),
                message.status,
                body if len(body) <= SMS_BODY_WIDTH else body[: SMS_BODY_WIDTH - 1] + "…",
            )
        )
    return rows


def sms_table(rows: list[tuple[str, str, str, str, str]]) -> tuple[Table, int]:
    """The table of texts, and the width it needs: nothing in it is cut or wrapped (the
    body is already short); a terminal narrower than that wraps the lines instead."""
    table = Table()
    needed = 1  # the left border; each column adds its width, padding and right border
    for index, name in enumerate(("time (UTC)", "to", "from", "status", "body")):
        width = max([len(name), *(len(row[index]) for row in rows)])
        table.add_column(name, no_wrap=True, min_width=width)
        needed += width + 3
    for row in rows:
        table.add_row(*row)
    return table, needed


if __name__ == "__main__":
    app()
