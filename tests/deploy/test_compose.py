"""docker-compose.yml and the Dockerfile describe a topology our code can actually run in.

No Docker engine runs here, so these checks read the files: services, ports,
commands, and that every OUTBOUND_* variable is one the settings know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from outbound.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "postgresql",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "api",
    "worker",
    "mailcatcher",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def setting_names() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def test_the_production_services_are_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= SERVICES


@pytest.mark.parametrize("service", ["api", "worker"])
def test_outbound_is_configured_only_through_known_settings(
    compose: dict[str, Any], service: str
) -> None:
    environment = compose["services"][service]["environment"]
    ours = {name for name in environment if name.startswith("OUTBOUND_")}

    assert ours - setting_names() == set(), "unknown OUTBOUND_* variables"
    assert {"OUTBOUND_DATABASE_URL", "OUTBOUND_TEMPORAL_ADDRESS"} <= ours
    assert environment["OUTBOUND_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["OUTBOUND_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_database_url_points_at_the_database_the_init_script_creates(
    compose: dict[str, Any],
) -> None:
    url = compose["services"]["api"]["environment"]["OUTBOUND_DATABASE_URL"]
    init_sql = "".join(p.read_text() for p in (ROOT / "deploy" / "postgres-init").glob("*.sql"))

    assert url.rsplit("/", 1)[1] == "outbound"
    assert "CREATE DATABASE outbound OWNER outbound" in init_sql
    assert "@postgresql:5432/" in url


def test_workers_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]

    assert "ports" not in worker and "container_name" not in worker
    assert worker["deploy"]["replicas"] >= 2


def test_the_published_ports(compose: dict[str, Any]) -> None:
    published = {
        str(mapping).split(":")[0]
        for service in compose["services"].values()
        for mapping in service.get("ports", [])
    }
    assert {"7233", "8233", "8000", "8025"} <= published


def test_search_attributes_are_registered(compose: dict[str, Any]) -> None:
    setup = " ".join(compose["services"]["temporal-setup"]["command"])

    for name in ("CampaignId", "MailboxId", "ProspectStatus"):
        assert name in setup
    assert "--type Keyword" in setup


def test_dependencies_name_defined_services(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", []):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"


def test_commands_run_our_entry_points(compose: dict[str, Any]) -> None:
    api = " ".join(compose["services"]["api"]["command"])
    worker = " ".join(compose["services"]["worker"]["command"])
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "outbound.api.app:create_app --factory" in api
    assert worker == "python -m outbound.worker"
    assert "outbound.api.app:create_app" in dockerfile
    for module in ("outbound.api.app", "outbound.worker"):
        assert (ROOT / (module.replace(".", "/") + ".py")).exists()
