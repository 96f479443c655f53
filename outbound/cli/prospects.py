"""``outbound prospects import CAMPAIGN file.csv``: all rows or none, with a progress bar.

The file is checked here first, with the API's own CSV reader, so a bad row is named
(row numbers count the header as row 1, as a spreadsheet does) before anything is sent.
It then goes to ``POST /campaigns/{id}/prospects/csv`` in parts of at most 10,000 rows
(the API's bound per request): a file within that bound is one request, stored whole or
not at all; a larger one is stored part by part, and a part the API refuses stops the
import, saying which rows were stored.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from outbound.cli.api_client import ApiRefused
from outbound.cli.output import (
    REFUSED,
    USAGE,
    JsonOption,
    api_errors,
    client,
    console,
    errors,
    print_json,
)
from outbound.domain.prospect_csv import parse_prospects_csv
from outbound.domain.prospects import MAX_PROSPECTS_PER_REQUEST

prospects = typer.Typer(help="Prospects: import a CSV file into a campaign.", no_args_is_help=True)

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_ROW_ERRORS_SHOWN = 20
_SERVER_ROW = re.compile(r"^row (\d+): ")


def split_rows(text: str, rows_per_part: int) -> list[tuple[int, str]]:
    """The file as CSV parts of at most ``rows_per_part`` rows, each with the header, and the
    number of the row before each part's first (to turn its row numbers into the file's)."""
    records = [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if row]
    if not records:
        return []
    header, rows = records[0], records[1:]
    parts = []
    for start in range(0, len(rows), rows_per_part):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows[start : start + rows_per_part])
        parts.append((start, buffer.getvalue()))
    return parts


@prospects.command("import")
def import_csv(
    campaign_id: Annotated[int, typer.Argument(min=1, help="The campaign's id.")],
    file: Annotated[Path, typer.Argument(help="CSV with a header row (README: CSV columns).")],
    allow_other_active: Annotated[
        bool, typer.Option(help="Enroll prospects active in another campaign too.")
    ] = False,
    allow_recontact: Annotated[
        bool, typer.Option(help="Enroll prospects who ended a sequence recently too.")
    ] = False,
    ignore_cooldown: Annotated[
        bool,
        typer.Option(help="Enroll prospects within the workspace's re-contact cooldown too."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add the file's prospects to a campaign; a bad row rejects the file, naming the row."""
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
        text = file.read_text(encoding="utf-8")
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        errors.print(f"cannot read {file}: {error}", markup=False, highlight=False)
        raise typer.Exit(USAGE) from None
    found, problems = parse_prospects_csv(text)
    if problems:
        errors.print(f"[red]{file}: {len(problems)} bad row(s), nothing imported[/red]")
        for problem in problems[:MAX_ROW_ERRORS_SHOWN]:
            where = f"row {problem.row}: " if problem.row else ""
            errors.print(f"  {where}{problem.field}: {problem.reason}", markup=False)
        raise typer.Exit(REFUSED)
    if not found:
        errors.print(f"{file}: no prospect rows")
        raise typer.Exit(USAGE)
    api = client()
    params = {
        "allow_other_active": allow_other_active,
        "allow_recontact": allow_recontact,
        "ignore_cooldown": ignore_cooldown,
    }
    results: list[dict[str, Any]] = []
    stored = 0
    with Progress(console=errors, transient=False) as progress:
        bar = progress.add_task("importing", total=len(found))
        for offset, part in split_rows(text, MAX_PROSPECTS_PER_REQUEST):
            try:
                with api_errors():
                    results.append(_post_part(api, campaign_id, part, offset, params))
            except typer.Exit:
                if stored:
                    errors.print(f"rows 2–{stored + 1} were imported before this refusal")
                raise
            stored += results[-1]["enrolled"] + results[-1]["already_enrolled"]
            progress.update(bar, completed=min(stored, len(found)))
    enrolled = sum(result["enrolled"] for result in results)
    already = sum(result["already_enrolled"] for result in results)
    if as_json:
        ids = [prospect_id for result in results for prospect_id in result["prospect_ids"]]
        print_json(
            {
                "campaign_id": campaign_id,
                "prospect_ids": ids,
                "enrolled": enrolled,
                "already_enrolled": already,
            }
        )
        return
    console.print(f"{enrolled} prospects enrolled, {already} already in campaign {campaign_id}")


def _post_part(
    api: Any, campaign_id: int, part: str, offset: int, params: dict[str, bool]
) -> dict[str, Any]:
    """One part; the API's row numbers (counted in the part) made the file's."""
    try:
        answer: dict[str, Any] = api.post(
            f"/campaigns/{campaign_id}/prospects/csv",
            files={"file": ("prospects.csv", part.encode("utf-8"), "text/csv")},
            params=params,
        )
    except ApiRefused as refused:
        for problem in refused.problems:
            field = str(problem.get("field", ""))
            match = _SERVER_ROW.match(field)
            if match:
                problem["field"] = f"row {int(match.group(1)) + offset}: {field[match.end() :]}"
        raise
    return answer
