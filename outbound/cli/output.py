"""What every API command shares: the client, exit codes, ``--json`` and rich tables.

Exit codes: 0 done; 1 the API refused (its field and reason are printed); 2 usage (typer's
own, a missing login, a file that cannot be read); 3 the API cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from outbound.cli.api_client import ApiClient, ApiRefused, ApiUnreachable, NotLoggedIn

REFUSED = 1
USAGE = 2
UNREACHABLE = 3
MAX_BODY_FILE_BYTES = 1_000_000  # a campaign or mailbox file; the API bounds each field

console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn the API's refusals and silences into messages and exit codes."""
    try:
        yield
    except ApiRefused as refused:
        errors.print(f"[red]refused[/red] (HTTP {refused.status}):")
        for problem in refused.problems:
            field, reason = problem.get("field", "?"), problem.get("reason", "")
            errors.print(f"  {field}: {reason}", markup=False, highlight=False)
        raise typer.Exit(REFUSED) from None
    except ApiUnreachable as silent:
        errors.print(f"cannot reach the API: {silent}", markup=False, highlight=False)
        raise typer.Exit(UNREACHABLE) from None


def client() -> ApiClient:
    """The logged-in client, or exit 2 saying how to log in."""
    try:
        return ApiClient.from_config()
    except NotLoggedIn:
        errors.print(
            "no API key: run `outbound login`, or set OUTBOUND_API_URL and OUTBOUND_API_KEY"
        )
        raise typer.Exit(USAGE) from None


def call(action: Callable[[ApiClient], Any]) -> Any:
    """``action`` with the logged-in client, its failures as exit codes."""
    api = client()
    with api_errors():
        return action(api)


def print_json(value: Any) -> None:
    """JSON on stdout, nothing else (for scripts)."""
    print(json.dumps(value, indent=2, default=str))


def read_body_file(path: Path) -> Any:
    """A YAML (or JSON, which is YAML) request body from a file; bad file: exit 2."""
    try:
        if path.stat().st_size > MAX_BODY_FILE_BYTES:
            raise ValueError(f"larger than {MAX_BODY_FILE_BYTES:,} bytes")
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as error:
        errors.print(f"cannot read {path}: {error}", markup=False, highlight=False)
        raise typer.Exit(USAGE) from None
    if not isinstance(body, dict):
        errors.print(f"{path}: expected a mapping of fields (name: …)", markup=False)
        raise typer.Exit(USAGE)
    return body


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table of ``rows`` (values shown as text, None as empty)."""
    shown = Table(title=title)
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*("" if value is None else str(value) for value in row))
    return shown
