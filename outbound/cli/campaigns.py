"""``outbound campaigns …``: create, look at, start and control campaigns."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from outbound.cli import watch as watching
from outbound.cli.api_client import ApiClient
from outbound.cli.output import (
    USAGE,
    JsonOption,
    call,
    client,
    console,
    errors,
    print_json,
    read_body_file,
    table,
)

campaigns = typer.Typer(help="Campaigns: create, start, watch, control.", no_args_is_help=True)

CampaignId = Annotated[int, typer.Argument(min=1, help="The campaign's id.")]
CONSENT_QUESTIONS = {
    "recipients_consented": "Every recipient agreed to be contacted, or you have a lawful basis",
    "lawful_content": "The messages are lawful and not misleading",
    "opt_out_included": "Every message tells how to opt out",
    "opted_out_excluded": "People who opted out are excluded",
}
SMS_QUESTION = "Every recipient agreed to receive text messages at their number"


@campaigns.command("list")
def list_campaigns(as_json: JsonOption = False) -> None:
    """The workspace's campaigns (a member: their own), newest first."""
    found = call(lambda api: api.get("/campaigns", limit=500))
    if as_json:
        print_json(found)
        return
    rows = [(c["id"], c["name"], c["status"], len(c["steps"]), c.get("owner")) for c in found]
    console.print(table(None, ("id", "name", "status", "steps", "owner"), rows))


@campaigns.command("create")
def create(
    file: Annotated[
        Path,
        typer.Option("-f", "--file", help="YAML (or JSON): name, mailbox_id, steps, …"),
    ],
    as_json: JsonOption = False,
) -> None:
    """Create a campaign from a file holding the POST /campaigns body."""
    body = read_body_file(file)
    made = call(lambda api: api.post("/campaigns", body))
    if as_json:
        print_json(made)
        return
    console.print(f"campaign {made['id']} {made['name']!r} created ({len(made['steps'])} steps)")


@campaigns.command("show")
def show(campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """The campaign, its steps and its prospects per status."""
    detail = call(lambda api: api.get(f"/campaigns/{campaign_id}", limit=1))
    if as_json:
        print_json(detail)
        return
    campaign = detail["campaign"]
    console.print(
        f"campaign {campaign['id']} {campaign['name']!r}: {campaign['status']}, "
        f"{detail['total_prospects']} prospects, {detail['workflows_started']} started"
    )
    steps = [
        (
            s["position"],
            s["kind"],
            s.get("subject") or s.get("task") or (s.get("body") or "")[:40],
            s["delay_days"],
            s["delay_minutes"],
        )
        for s in campaign["steps"]
    ]
    console.print(table("steps", ("step", "kind", "subject", "delay days", "minutes"), steps))
    console.print(table("prospects", ("status", "count"), sorted(detail["counts"].items())))


@campaigns.command("preview")
def preview(
    campaign_id: CampaignId,
    prospects: Annotated[int, typer.Option(min=0, max=10_000, help="Prospects to list.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """When each step would go out if the campaign started now."""
    plan = call(
        lambda api: api.get(f"/campaigns/{campaign_id}/schedule-preview", prospects=prospects)
    )
    if as_json:
        print_json(plan)
        return
    console.print(plan["summary"], markup=False)
    rows = [
        (s["position"], s["first_send"], s["last_send"], s["busiest_day_sends"])
        for s in plan["steps"]
    ]
    console.print(table(None, ("step", "first send", "last send", "busiest day"), rows))


def _has_sms_steps(api: ApiClient, campaign_id: int) -> bool:
    campaign = api.get(f"/campaigns/{campaign_id}", limit=1)["campaign"]
    return any(step["kind"] == "sms" for step in campaign["steps"])


@campaigns.command("start")
def start(
    campaign_id: CampaignId,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Attest every consent statement (scripts).")
    ] = False,
    accepted_by: Annotated[
        str | None, typer.Option(help="Who accepts the attestation (your name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start sending, after the consent attestation: asked here, or --yes --accepted-by NAME.

    The attestation is kept with the campaign; a statement answered no is refused by the
    API, naming it, and nothing starts."""
    api = client()
    with_sms = call(lambda api: _has_sms_steps(api, campaign_id))
    consent: dict[str, Any] = {}
    questions = {**CONSENT_QUESTIONS, **({"sms_consented": SMS_QUESTION} if with_sms else {})}
    if not yes and not sys.stdin.isatty() and accepted_by is None:
        errors.print("not a terminal: pass --yes and --accepted-by NAME to attest")
        raise typer.Exit(USAGE)
    for field, question in questions.items():
        consent[field] = True if yes else typer.confirm(question + "?", default=False)
    if accepted_by is None:
        accepted_by = typer.prompt("Your name (accepted by)")
    consent["accepted_by"] = accepted_by
    started = call(lambda _: api.post(f"/campaigns/{campaign_id}/start", {"consent": consent}))
    if as_json:
        print_json(started)
        return
    console.print(
        f"campaign {campaign_id} starting: {started['to_start']} sequences to start, "
        f"{started['already_running']} already running; first send not before "
        f"{started['first_send_not_before']}"
    )


def _control(campaign_id: int, action: str, as_json: bool) -> None:
    answer = call(lambda api: api.post(f"/campaigns/{campaign_id}/{action}"))
    if as_json:
        print_json(answer)
        return
    stopped = answer.get("prospects_stopped")
    extra = f", {stopped} prospects stopped" if stopped is not None else ""
    console.print(f"campaign {campaign_id}: {action} sent{extra}")


@campaigns.command("pause")
def pause(campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """Hold every prospect's sequence (a message being sent finishes)."""
    _control(campaign_id, "pause", as_json)


@campaigns.command("resume")
def resume(campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """Continue every paused sequence."""
    _control(campaign_id, "resume", as_json)


@campaigns.command("stop")
def stop(campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """Stop every prospect: nothing more is sent once this answers."""
    _control(campaign_id, "stop", as_json)


@campaigns.command("watch")
def watch(
    campaign_id: CampaignId,
    until_done: Annotated[
        bool, typer.Option("--until-done", help="Return once the campaign completes or stops.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds between refreshes.")
    ] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per refresh.")] = False,
) -> None:
    """A live table of prospects per status and each step's counts, until Ctrl-C."""
    try:
        call(lambda api: watching.watch(api, campaign_id, interval, until_done, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@campaigns.command("export")
def export(
    campaign_id: CampaignId,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """The campaign's prospects as CSV (status, steps, engagement)."""
    response = call(lambda api: api.request("GET", f"/campaigns/{campaign_id}/export.csv"))
    if output is None:
        sys.stdout.write(response.text)
        return
    output.write_text(response.text, encoding="utf-8")
    errors.print(f"written to {output}", markup=False)
