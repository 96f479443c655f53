"""``outbound db upgrade`` and ``outbound admin …`` on a server's database, as an operator
runs them: the first workspace's admin key comes from the command line and works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from outbound.accounts.keys import prefix_of
from outbound.store.encryption import new_key
from outbound.store.engine import make_engine
from outbound.store.migrate import current_revision, head_revision

OUTBOUND = str(Path(sys.executable).parent / "outbound")


def run(
    database: str, *arguments: str, keys: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    environment["OUTBOUND_DATABASE_URL"] = database
    environment["OUTBOUND_ENCRYPTION_KEYS"] = keys or new_key()
    return subprocess.run(
        [OUTBOUND, *arguments], env=environment, capture_output=True, text=True, check=False
    )


def test_upgrade_then_create_a_workspace_whose_printed_key_is_an_admin_s(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'outbound.db'}"

    upgraded = run(database, "db", "upgrade")
    again = run(database, "db", "upgrade")
    created = run(
        database, "admin", "create-workspace", "acme", "--admin-email", "you@acme.example"
    )
    twice = run(database, "admin", "create-workspace", "acme", "--admin-email", "x@acme.example")
    another = run(database, "admin", "create-key", "acme")

    assert upgraded.returncode == 0 and "created" in upgraded.stdout, upgraded.stderr
    assert "up to date" in again.stdout
    assert current_revision(make_engine(database)) == head_revision()
    key = created.stdout.strip().splitlines()[-1]
    assert created.returncode == 0 and prefix_of(key) is not None, created.stdout
    assert twice.returncode == 1 and "exists already" in twice.stdout + twice.stderr
    assert another.returncode == 0 and prefix_of(another.stdout.strip()) not in (
        None,
        prefix_of(key),
    )


def test_a_new_encryption_key_is_a_key_and_rotation_reports_what_it_did(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'outbound.db'}"
    made = run(database, "admin", "new-encryption-key")
    run(database, "db", "upgrade")

    rotated = run(database, "admin", "rotate-secrets", keys=made.stdout.strip())

    assert made.returncode == 0 and len(made.stdout.strip()) == 44
    assert rotated.returncode == 0 and "0 stored secret(s)" in rotated.stdout, rotated.stderr
