"""The README's five-minute walkthrough, pasted as written into a shell, on a machine
without DNS, against ``outbound dev``: what the README says the user sees is what happens.

The commands are read from README.md itself (every ``sh`` block from step 1 to
step 6), so the two cannot drift apart, and run by bash with the real curl,
whatever headers they carry. Only the ports change, so that this test can run
beside a developer's own ``make run``: ``localhost:8000`` and the sink's
``1025`` become free ports. ``outbound dev --offline`` asks no DNS server of
this machine, as on one without DNS: the address check is answered by the dev
stack's own resolver alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from outbound.devstack.sink import read_sink_folder
from outbound.devstack.sms_sink import read_sms_sink
from tests.support.rfc2369 import list_urls

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
ANSWER_MARK = "\x1e"  # after each curl's answer: the mark, then the HTTP status
# Every curl of the README prints its answer, then the mark and the status on a line.
CURL = f"curl() {{ command curl \"$@\" -w '\\n{ANSWER_MARK}%{{http_code}}\\n'; }}\n"


def walkthrough_blocks() -> list[str]:
    """The ``sh`` blocks of the walkthrough's steps 1 to 6 (with the preview between 3 and 4)."""
    text = README.read_text()
    section = text[text.index("## Five-minute walkthrough") :]
    section = section[: section.index("\n## ", 1)]
    start = section.index("**1. ")
    after_six = re.search(r"^\*\*(?!\d)", section[section.index("**6. ") :], re.MULTILINE)
    assert after_six is not None, "the walkthrough's step 6 ends at the next bold paragraph"
    steps = section[start : section.index("**6. ") + after_six.start()]
    return re.findall(r"^```sh\n(.*?)^```", steps, re.MULTILINE | re.DOTALL)


def texting_blocks() -> list[str]:
    """The ``sh`` blocks of the README's "Texting (SMS)" section (its steps 7 to 9)."""
    text = README.read_text()
    section = text[text.index("## Texting (SMS)") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


def command_line_blocks() -> list[str]:
    """The ``sh`` blocks of the README's "Command line" section."""
    text = README.read_text()
    section = text[text.index("## Command line") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


# Zones whose 09:00–19:00 together cover every hour of the day: the README's texts go to
# a prospect in New York, and only between 08:00 and 21:00 there; the test puts them in
# one of these where it is daytime now, so that they go at once whenever it runs.
DAYTIME_ZONES = [
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in DAYTIME_ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class DevStack:
    folder: Path
    api_port: int
    public_port: int
    smtp_port: int
    sms_port: int

    def run(self, block: str) -> tuple[list[Answer], str]:
        """Run one README block in bash, as pasted; the curl answers, and the other output."""
        script = block.replace("localhost:8000", f"localhost:{self.api_port}")
        script = script.replace("localhost:8001", f"localhost:{self.public_port}")
        script = script.replace('"smtp_port": 1025', f'"smtp_port": {self.smtp_port}')
        script = script.replace("localhost:8026", f"localhost:{self.sms_port}")
        script = script.replace('"America/New_York"', f'"{daytime_zone()}"')
        config = self.folder / "config"  # `outbound login` keeps its key here, not in ~
        done = subprocess.run(
            ["/bin/bash", "-c", CURL + script],
            cwd=self.folder,
            env={**os.environ, "XDG_CONFIG_HOME": str(config)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return _pair(done.stdout)

    def get(self, path: str) -> Any:
        """What the test itself reads (with the stack's API key, where it has one)."""
        key = self.folder / "var" / "api-key"
        headers = {"Authorization": f"Bearer {key.read_text().strip()}"} if key.exists() else {}
        answer = httpx.get(f"http://127.0.0.1:{self.api_port}{path}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()


def _pair(output: str) -> tuple[list[Answer], str]:
    """Split bash's output at the marks: each curl's body and status; what is left is the
    output of the other commands (the sink's table)."""
    pieces = output.split(ANSWER_MARK)
    answers, others = [], []
    body = pieces[0]
    for piece in pieces[1:]:
        status, _, body_next = piece.partition("\n")
        answers.append(Answer(int(status), body.strip()))
        body = body_next
    others.append(body)
    return answers, "".join(others)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    """``outbound dev --offline`` in a fresh folder, where the README's commands run."""
    api, public, temporal, ui, smtp, dns, sms = free_ports(7)
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    outbound = Path(sys.executable).parent / "outbound"
    (venv_bin / "outbound").symlink_to(outbound)  # the README's .venv/bin/outbound
    command = [str(outbound), "dev", "--offline", "--workers", "1"]
    for option, port in (
        ("--api-port", api),
        ("--public-port", public),
        ("--temporal-port", temporal),
        ("--ui-port", ui),
        ("--smtp-port", smtp),
        ("--dns-port", dns),
        ("--sms-port", sms),
    ):
        command += [option, str(port)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    log = (tmp_path / "dev.log").open("wb")
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    stack = DevStack(tmp_path, api, public, smtp, sms)
    try:
        deadline = time.monotonic() + 90
        while not _answers(api):
            assert process.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.3)
        yield stack
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    shutdown = (tmp_path / "dev.log").read_text().split("stopping…", 1)[-1]
    assert "level=WARN" not in shutdown, shutdown  # Ctrl-C is quiet


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/mailboxes", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def wait_until(condition: Any, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s"
        time.sleep(0.5)


def steps_of(view: dict[str, Any]) -> dict[str, list[str]]:
    return {p["email"]: [s["status"] for s in p["steps"]] for p in view["prospects"]}


def test_the_walkthrough_as_written_delivers_what_the_readme_says(dev_stack: DevStack) -> None:
    mailbox, campaign, prospects, preview, start, watch, control = walkthrough_blocks()

    # 1. The mailbox: the password is write-only.
    [created] = dev_stack.run(mailbox)[0]
    assert created.status == 201 and created.json()["has_password"] is True
    assert "app-password" not in created.text
    # 2. The campaign, 3. the prospects (JSON, then CSV).
    [made] = dev_stack.run(campaign)[0]
    assert made.status == 201 and made.json()["id"] == 1
    as_json, as_csv = dev_stack.run(prospects)[0]
    assert (as_json.status, as_json.json()["enrolled"]) == (201, 1)
    assert (as_csv.status, as_csv.json()["enrolled"]) == (201, 2)
    # The plan before starting.
    [plan] = dev_stack.run(preview)[0]
    assert plan.status == 200 and plan.json()["summary"].startswith("3 prospects: step 1 from ")
    # 4. Start: answers at once, then the grace delay (10 s).
    [started] = dev_stack.run(start)[0]
    assert started.status == 202 and started.json()["to_start"] == 3, started.text

    # 5. Watch, during the grace delay: NotStarted, step 1 Pending.
    view, one, _, sink = dev_stack.run(watch)[0]
    assert all(a.status == 200 for a in (view, one, sink)), (view, one, sink)
    assert view.json()["counts"] == {"NotStarted": 3}, view.text
    assert {s[0] for s in steps_of(view.json()).values()} == {"Pending"}

    # … then step 1 Sent and step 2 Scheduled, with their times.
    def first_steps_sent() -> bool:
        rows = dev_stack.get("/campaigns/1")["prospects"]
        return all([s["status"] for s in p["steps"]] == ["Sent", "Scheduled"] for p in rows)

    wait_until(first_steps_sent, "step 1 Sent and step 2 Scheduled for all")
    answers, table = dev_stack.run(watch)
    view, one, live, sink = answers
    assert live.status == 200 and live.json()["status"] == "Active", live.text
    # The address check found Cem's mail server: answered by the dev stack, no DNS needed.
    assert live.json()["address_checks"] == {"cem@example.org": "valid"}, live.text
    for row in view.json()["prospects"]:
        assert row["steps"][0]["sent_at"] and row["steps"][1]["scheduled_at"], row
    assert [m["status"] for m in one.json()["messages"]] == ["Sent", "Waiting"]
    recipients = ["cem@example.org", "ann@acme.example.com", "bob@bolt.example.com"]
    assert sorted(m["to"] for m in sink.json()) == sorted(recipients), sink.text
    assert all(address in table for address in recipients), table  # the sink's table

    # 6. Ann paused, her address changed, resumed: step 2 goes to the new address.
    paused, moved, resumed = dev_stack.run(control)[0]
    assert (paused.status, paused.json()["status"]) == (200, "Paused"), paused.text
    assert moved.status == 200, moved.text
    assert (resumed.status, resumed.json()["status"]) == (200, "Active"), resumed.text

    # (The texting campaign of steps 7 to 9 runs while step 2 of the email campaign waits
    # its minute: the two waits overlap.)
    # 7. A texting campaign through the dev stack's "Dev SMS" sender and gateway.
    campaign, start, texted = texting_blocks()
    senders, made, added, preview = dev_stack.run(campaign)[0]
    assert [s["name"] for s in senders.json()] == ["Dev SMS"], senders.text
    assert (made.status, made.json()["id"]) == (201, 2), made.text
    assert (added.status, added.json()["enrolled"]) == (201, 2), added.text
    shapes = [(m["sms"]["encoding"], m["sms"]["segments"]) for m in preview.json()["steps"]]
    assert preview.status == 200 and shapes == [("GSM-7", 1), ("GSM-7", 1)], preview.text
    # 8. Start; after the grace delay Dee's first text is on its way or delivered.
    answers, table = dev_stack.run(start)
    started, dee = answers
    assert started.status == 202 and started.json()["to_start"] == 2, started.text
    assert dee.status == 200 and dee.json()["messages"][0]["to_address"] == "+14155550142"
    assert "+14155550142" in table and "+14155550143" in table, table

    # 9. Dee texts STOP: her number is suppressed and her second text never goes.
    stop, suppressions = dev_stack.run(texted)[0]
    assert stop.status == 200 and stop.json()["webhook_status"] == 200, stop.text
    listed = [(i["address"], i["source"]) for i in suppressions.json()["items"]]
    assert listed == [("+14155550142", "sms_stop")], suppressions.text

    # Back to the email campaign of step 6: at the end, Completed, each prospect and it.
    wait_until(
        lambda: dev_stack.get("/campaigns/1")["campaign"]["status"] == "Completed",
        "the campaign Completed",
    )
    final = dev_stack.get("/campaigns/1")
    assert final["counts"] == {"Completed": 3}
    assert set(map(tuple, steps_of(final).values())) == {("Sent", "Sent")}
    received = read_sink_folder(dev_stack.folder / "var" / "sink")
    assert sorted(str(message["To"]) for _, message in received) == sorted(
        [*recipients, "cem@example.org", "ann@new.example", "bob@bolt.example.com"]
    )
    # The links in the mail point at the public app, by the README's name for it.
    for path, _ in received:
        raw = path.read_bytes().split(b"\r\n", 2)[2]  # after the sink's two envelope lines
        [unsubscribe] = list_urls(raw)
        assert unsubscribe.startswith(f"http://localhost:{dev_stack.public_port}/unsubscribe/")

    # 10. The command line: a campaign from YAML, prospects from CSV, Start, watch, export.
    [cli] = command_line_blocks()
    _, printed = dev_stack.run(cli)
    assert "Frontend engineers" in printed and "Completed" in printed, printed
    final = dev_stack.get("/campaigns/3")
    assert final["counts"] == {"Completed": 2}, final
    exported = (dev_stack.folder / "campaign-3.csv").read_text().splitlines()
    assert len(exported) == 3 and "dia@dyno.example.com" in exported[1] + exported[2]
    assert (dev_stack.folder / "config" / "outbound" / "config.json").stat().st_mode & 0o077 == 0

    # … and the texting campaign Completed: Dee's second text never went.
    wait_until(
        lambda: dev_stack.get("/campaigns/2")["campaign"]["status"] == "Completed",
        "the texting campaign Completed",
    )
    final = {p["name"]: p for p in dev_stack.get("/campaigns/2")["prospects"]}
    assert (final["Dee"]["status"], final["Eli"]["status"]) == ("OptedOut", "Completed")
    assert [s["status"] for s in final["Eli"]["steps"]] == ["Sent", "Sent"]
    sink = read_sms_sink(dev_stack.folder / "var" / "sms")
    sent = [m for m in sink if m.direction == "outbound-api"]
    assert sorted(m.to_number for m in sent) == ["+14155550142", "+14155550143", "+14155550143"]
    assert {m.status for m in sent} == {"delivered"}
