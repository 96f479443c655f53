"""A mailbox's password goes to its SMTP server and nowhere else.

A campaign runs with a real key through API → Temporal → worker → SMTP; then
the password is looked for in every answer the API gave, every log line of
the API and the worker (at DEBUG), every event of every workflow's history,
and the database file and its write-ahead log as bytes. It is found only where
it must be: in the SMTP server's AUTH.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox, wait_for
from tests.support.factories import CONSENT

pytestmark = pytest.mark.e2e

PASSWORD = "Pw-only-the-SMTP-server-may-see-7f3a"


async def test_the_smtp_password_is_in_no_answer_log_history_or_database_file(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        answers.append(response)

    stack.api.event_hooks["response"].append(keep)
    mailbox_id = await create_mailbox(stack, password=PASSWORD)
    campaign_id = await create_campaign(
        stack, mailbox_id, [{"subject": "Hi {{ first_name }}", "body": "A role."}]
    )
    people = [{"first_name": n, "addresses": [{"address": f"{n}@acme.example.com"}]} for n in "abc"]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    await wait_for(lambda: len(stack.sink.received) == 3)
    for path in (
        "/mailboxes",
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}/prospects/1",
    ):
        assert (await stack.api.get(path)).status_code == 200

    # The server had it: decrypted for each login, never stored in the clear.
    assert (b"ada", PASSWORD.encode()) in stack.sink.logins
    assert answers and all(PASSWORD not in a.text for a in answers)
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    histories = 0
    async for workflow in stack.api_temporal.list_workflows():
        history = await stack.api_temporal.get_workflow_handle(workflow.id).fetch_history()
        assert PASSWORD not in history.to_json(), workflow.id
        histories += 1
    assert histories >= 4  # the fan-out and three sequences
    database = Path(stack.settings.database_url.removeprefix("sqlite:///"))
    for file in (database, Path(f"{database}-wal")):
        if file.exists():
            assert PASSWORD.encode() not in file.read_bytes(), file.name
