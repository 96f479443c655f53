"""``outbound sink``: the table of what the local SMTP sink received."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from outbound.cli.main import app

LONG = "cem.longname-with-a-suffix@cogs.department.example.com"
MESSAGE_ID = "<outbound.1.2.0123456789abcdef@recruiting.hiring.example.com>"


def test_addresses_and_ids_are_whole_in_an_80_column_terminal(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    (sink / "20261123T090000000000-000001.eml").write_bytes(
        (
            f"X-Sink-Envelope-To: {LONG}\r\nTo: {LONG}\r\n"
            "Subject: A backend role at Cogs, and a subject long enough to wrap\r\n"
            f"Message-ID: {MESSAGE_ID}\r\nIn-Reply-To: {MESSAGE_ID}\r\n\r\nHi\r\n"
        ).encode()
    )

    shown = CliRunner().invoke(app, ["sink", "--data-dir", str(tmp_path)], env={"COLUMNS": "80"})

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert any(LONG in line for line in lines), shown.output
    assert sum(MESSAGE_ID in line for line in lines) == 1, shown.output
    assert "20261123T090000000000-000001.eml" in shown.output
    assert "…" not in shown.output
