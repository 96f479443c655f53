"""The `outbound` commands against a running API (uvicorn on a loopback port), end to end:
import, create from YAML, start, watch until done, stop; /metrics counts the sends and
/readyz answers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner, Result

from outbound.api.app import create_app
from outbound.cli.main import app
from outbound.devstack.loopback import LoopbackServer
from outbound.domain.statuses import MailboxConnection
from outbound.store.tables import Mailbox
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

BAD_ROW = 637  # the file's row number (the header is row 1)


def sent_count(metrics_text: str) -> float:
    found = re.search(r'^outbound_sends_total\{outcome="sent"\} (\S+)$', metrics_text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_the_common_flows_through_the_command_line(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LoopbackServer(
        create_app(stack.settings, engine=stack.engine, temporal=stack.api_temporal)
    )
    await server.start()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("OUTBOUND_API_URL", raising=False)
    monkeypatch.delenv("OUTBOUND_API_KEY", raising=False)
    runner = CliRunner()

    async def outbound(*args: str, code: int = 0) -> Result:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        assert result.exit_code == code, (args, result.output)
        return result

    try:
        # No login yet: a usage error saying how; a wrong key: refused; then logged in.
        assert "outbound login" in (await outbound("campaigns", "list", code=2)).output
        await outbound("login", "--url", server.url, "--key", "obk_wrong", code=1)
        await outbound("login", "--url", server.url, "--key", stack.api_key)
        config = tmp_path / "config" / "outbound" / "config.json"
        assert config.stat().st_mode & 0o777 == 0o600
        unreachable = "http://127.0.0.1:9"
        await outbound("login", "--url", unreachable, "--key", stack.api_key, code=3)

        mailbox = tmp_path / "mailbox.yaml"
        mailbox.write_text(
            f"smtp_host: 127.0.0.1\nsmtp_port: {stack.sink_port}\ntls_mode: none\n"
            "username: ada\npassword: s3cret-pass\nfrom_address: ada@hiring.example.com\n"
            "time_zone: Europe/Berlin\ndaily_limit: 100000\nmin_gap_seconds: 0\n"
            "send_days: [mon, tue, wed, thu, fri, sat, sun]\nsend_start: '00:00'\n"
            "send_end: '24:00'\n"
        )
        made = json.loads((await outbound("mailboxes", "add", "-f", str(mailbox), "--json")).stdout)
        listed = json.loads((await outbound("mailboxes", "list", "--json")).stdout)
        assert [m["id"] for m in listed] == [made["id"]]
        assert "s3cret" not in json.dumps(listed)

        campaign = tmp_path / "campaign.yaml"
        campaign.write_text(
            f"name: CLI hiring\nmailbox_id: {made['id']}\ngrace_seconds: 1\nsteps:\n"
            "  - subject: 'A role at {{ company }}?'\n"
            "    body: 'Hi {{ first_name }}, a role for you.'\n"
        )
        created = json.loads(
            (await outbound("campaigns", "create", "-f", str(campaign), "--json")).output
        )
        campaign_id = str(created["id"])
        refused = await outbound("campaigns", "show", "999999", code=1)
        assert "campaign_id" in refused.output

        # 1,000 rows, one bad: the row is named and nothing is stored.
        rows = [f"P{n},Co{n},p{n}@acme.example.com" for n in range(1, 1001)]
        rows[BAD_ROW - 2] = "Bad,Co,not-an-address"
        big = tmp_path / "big.csv"
        big.write_text("first_name,company,email\n" + "\n".join(rows) + "\n")
        bad = await outbound("prospects", "import", campaign_id, str(big), code=1)
        assert f"row {BAD_ROW}" in bad.output
        shown = json.loads((await outbound("campaigns", "show", campaign_id, "--json")).stdout)
        assert shown["total_prospects"] == 0

        rows[BAD_ROW - 2] = f"Fixed,Co,p{BAD_ROW}@acme.example.com"
        small = tmp_path / "small.csv"
        small.write_text("first_name,company,email\n" + "\n".join(rows[:3]) + "\n")
        imported = await outbound("prospects", "import", campaign_id, str(small), "--json")
        assert json.loads(imported.stdout)["enrolled"] == 3

        for read in (("campaigns", "preview", campaign_id), ("campaigns", "show", campaign_id)):
            assert "3" in (await outbound(*read)).stdout  # tables, as a person reads them
        await outbound("mailboxes", "list")
        await outbound("campaigns", "list")

        async with httpx.AsyncClient(base_url=server.url) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            before = sent_count((await http.get("/metrics")).text)

            await outbound("campaigns", "start", campaign_id, "--yes", "--accepted-by", "Ada")
            watched = await outbound(
                "campaigns", "watch", campaign_id, "--until-done", "--interval", "0.3"
            )
            assert "Completed" in watched.output and "steps" in watched.output

            after = (await http.get("/metrics")).text
        assert sent_count(after) - before == len(stack.sink.received) == 3
        assert 'outbound_sequences{status="Completed"}' in after

        exported = await outbound("campaigns", "export", campaign_id)
        assert exported.output.count("@acme.example.com") == 3
        ended = await outbound("campaigns", "stop", campaign_id, code=1)
        assert "status: campaign is Completed" in ended.output

        # A second campaign, waiting out a long grace delay, stopped before any send.
        campaign.write_text(campaign.read_text().replace("grace_seconds: 1", "grace_seconds: 600"))
        second = json.loads(
            (await outbound("campaigns", "create", "-f", str(campaign), "--json")).stdout
        )
        small.write_text("first_name,company,email\n" + "\n".join(rows[3:6]) + "\n")
        await outbound("prospects", "import", str(second["id"]), str(small))
        await outbound("campaigns", "start", str(second["id"]), "--yes", "--accepted-by", "Ada")
        stopped = await outbound("campaigns", "stop", str(second["id"]), "--json")
        assert json.loads(stopped.stdout)["prospects_stopped"] == 3
        listing = json.loads((await outbound("campaigns", "list", "--json")).stdout)
        assert [c["status"] for c in listing] == ["Stopped", "Completed"]
        assert len(stack.sink.received) == 3

        # The mailbox's figures; a resume refused while the guard has not paused it, and
        # done once it has (the pause itself: tests/e2e/test_reputation_guard.py).
        shown = (await outbound("mailboxes", "show", str(made["id"]))).output
        assert "connected" in shown and "hard bounces" in shown
        assert "last 3 sends" in shown, shown
        refused = await outbound("mailboxes", "resume", str(made["id"]), code=1)
        assert "nothing to resume" in refused.output
        with Session(stack.engine) as session:
            row = session.get_one(Mailbox, made["id"])
            row.connection_state = MailboxConnection.PAUSED_REPUTATION
            row.paused_reason = "hard bounces: 6 of the last 100 sends (6%, over 5%)"
            session.add(row)
            session.commit()
        paused = (await outbound("mailboxes", "show", str(made["id"]))).output
        assert "paused_reputation" in paused and "6 of the last 100" in paused
        resumed = (await outbound("mailboxes", "resume", str(made["id"]))).output
        assert "connected" in resumed and "waiting sequences go on" in resumed
    finally:
        await server.stop()
