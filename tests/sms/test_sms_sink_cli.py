"""``outbound sink --sms``: the table of the texts the local SMS gateway recorded."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from outbound.cli.main import app
from outbound.devstack.sms_gateway import SmsGateway
from outbound.devstack.sms_sink import sms_sink_dir
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER

LONG_BODY = "Hi Ada, a backend role at Cogs caught my eye for you. Reply STOP to opt out."


async def test_the_texts_of_another_process_gateway_are_listed_newest_first(
    tmp_path: Path,
) -> None:
    async with SmsGateway(
        {ACCOUNT_SID: AUTH_TOKEN}, delay=0.01, folder=sms_sink_dir(tmp_path)
    ) as gateway:
        auth = (ACCOUNT_SID, AUTH_TOKEN)
        async with httpx.AsyncClient(base_url=gateway.url, auth=auth) as client:
            for to, body in (("+15550100001", LONG_BODY), ("+15550100002", "Second")):
                created = await client.post(
                    f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                    data={"To": to, "From": OUR_NUMBER, "Body": body},
                )
                assert created.status_code == 201, created.text
        await gateway.settle()

    shown = CliRunner().invoke(
        app, ["sink", "--sms", "--data-dir", str(tmp_path)], env={"COLUMNS": "80"}
    )

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    second = next(i for i, line in enumerate(lines) if "+15550100002" in line)
    first = next(i for i, line in enumerate(lines) if "+15550100001" in line)
    assert second < first
    assert OUR_NUMBER in lines[first]
    assert "delivered" in lines[first]
    assert "Hi Ada, a backend role" in lines[first]
    assert LONG_BODY not in shown.output


def test_no_texts_yet_is_an_empty_table(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["sink", "--sms", "--data-dir", str(tmp_path)])

    assert shown.exit_code == 0, shown.output
    assert "status" in shown.output
