"""docker-compose.yml and the Dockerfile describe a topology our code can actually run in.

No Docker engine is needed: these checks read the files (services, ports, commands,
the database the init script creates) and hold every ``OUTBOUND_*`` variable to the
fields of ``Settings``. Where a compose binary exists, it validates the file too.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SETUP_SERVICE = "temporal-setup"
SERVICES = {
    "postgresql",
    "temporal",
    SETUP_SERVICE,
    "temporal-ui",
    "migrate",
    "api",
    "public",
    "worker",
    "mailcatcher",
}
APPS = ("api", "public", "worker")
SEARCH_ATTRIBUTES = {"WorkspaceId", "CampaignId", "MailboxId", "ProspectStatus"}
API_COMMAND = "uvicorn outbound.api.app:create_app --factory --host 0.0.0.0 --port 8000"
PUBLIC_COMMAND = "uvicorn outbound.api.app:create_public_app --factory --host 0.0.0.0 --port 8001"
WORKER_COMMAND = "python -m outbound.worker"
MIGRATE_COMMAND = "outbound db upgrade"

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def setting_env_names() -> set[str]:
    """The environment variable of every Settings field (``OUTBOUND_`` + field name)."""
    prefix = str(Settings.model_config.get("env_prefix") or "")
    names = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    for field, info in Settings.model_fields.items():  # nested: OUTBOUND_OAUTH_GOOGLE__CLIENT_ID
        nested = getattr(info.annotation, "model_fields", {})
        names |= {f"{prefix}{field}__{part}".upper() for part in nested}
    assert prefix == "OUTBOUND_" and "OUTBOUND_DATABASE_URL" in names
    return names


def interpolated(value: Any) -> str:
    """A value as compose passes it on with no variables set: ``${X:-d}`` gives d."""
    text = str(value).replace("$$", "\0")
    text = _VARIABLE.sub(lambda match: match.group("default") or "", text)
    return text.replace("\0", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from the map or the list form, interpolated."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(name): interpolated(value) for name, value in raw.items()}


def command_text(service: dict[str, Any], key: str = "command") -> str:
    value = service.get(key) or ""
    return " ".join(value) if isinstance(value, list) else str(value)


def port_mappings(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(host port, container port) for each published port, short or long syntax."""
    mappings = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            mappings.add((str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2:
            mappings.add((parts[-2], parts[-1]))
    return mappings


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}, from the list or the map form."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def test_the_production_services_are_there(services: dict[str, Any]) -> None:
    assert set(services) >= SERVICES, SERVICES - set(services)


@pytest.mark.parametrize("name", APPS)
def test_outbound_is_configured_only_through_settings_fields(
    services: dict[str, Any], name: str
) -> None:
    env = environment(services[name])
    ours = {variable for variable in env if variable.startswith("OUTBOUND_")}

    assert ours - setting_env_names() == set(), "OUTBOUND_* variables Settings does not know"
    assert {"OUTBOUND_DATABASE_URL", "OUTBOUND_TEMPORAL_ADDRESS"} <= ours
    assert set(env) == ours, "api and worker take no other variables"


@pytest.mark.parametrize("name", APPS)
def test_the_settings_accept_the_values(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in list(setting_env_names()):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment(services[name]).items():
        monkeypatch.setenv(variable, value)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert make_url(settings.database_url).host == "postgresql"
    host, port = settings.temporal_address.rsplit(":", 1)
    assert host == "temporal" and port == "7233"


def test_the_apps_workers_and_migration_share_one_configuration(
    services: dict[str, Any],
) -> None:
    for name in ("public", "worker", "migrate"):
        assert environment(services["api"]) == environment(services[name]), name


def test_outbound_variables_the_file_reads_are_settings_too() -> None:
    """``${OUTBOUND_...}`` substitutions must not invent variables our code never reads."""
    read = {match.group("name") for match in _VARIABLE.finditer(COMPOSE_FILE.read_text())}
    ours = {name for name in read if name.startswith("OUTBOUND_")}

    assert ours - setting_env_names() == set()


def test_the_database_url_names_the_database_the_init_script_creates(
    services: dict[str, Any],
) -> None:
    url = make_url(environment(services["api"])["OUTBOUND_DATABASE_URL"])
    postgresql = services["postgresql"]
    mounts = {str(volume).rsplit(":", 1)[0] for volume in postgresql["volumes"]}
    init_dir = ROOT / "deploy" / "postgres-init"
    init = "".join(path.read_text() for path in sorted(init_dir.glob("*.s*")))

    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port) == ("postgresql", 5432)
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d" in mounts
    assert f"CREATE ROLE {url.username} LOGIN PASSWORD" in init
    assert f"CREATE DATABASE {url.database} OWNER {url.username}" in init
    assert url.database != environment(postgresql)["POSTGRES_USER"], "Temporal's own database"
    # The password the init script gives the role is the one in the URL.
    raw_url = services["api"]["environment"]["OUTBOUND_DATABASE_URL"]
    (password_variable,) = {m.group("name") for m in _VARIABLE.finditer(raw_url)}
    expected = f"${{{password_variable}:-{url.password}}}"
    assert postgresql["environment"][password_variable] == expected
    assert password_variable in init


def test_postgresql_is_checked_and_temporal_waits_for_it(services: dict[str, Any]) -> None:
    postgresql, temporal = services["postgresql"], services["temporal"]

    assert postgresql["image"].startswith("postgres:16")
    assert "pg_isready" in command_text(postgresql["healthcheck"], "test")
    assert dependencies(temporal)["postgresql"] == "service_healthy"
    env = environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] in services
    assert env["POSTGRES_USER"] == environment(postgresql)["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == environment(postgresql)["POSTGRES_PASSWORD"]


def test_workers_can_be_scaled(services: dict[str, Any]) -> None:
    worker = services["worker"]

    assert "ports" not in worker
    assert "container_name" not in worker
    assert worker["deploy"]["replicas"] >= 2


def test_the_published_ports(services: dict[str, Any]) -> None:
    assert ("7233", "7233") in port_mappings(services["temporal"])
    assert ("8233", "8080") in port_mappings(services["temporal-ui"])
    assert ("8000", "8000") in port_mappings(services["api"])
    assert ("8001", "8001") in port_mappings(services["public"])
    assert ("8025", "8025") in port_mappings(services["mailcatcher"])


def test_only_the_public_app_is_published_to_the_network(services: dict[str, Any]) -> None:
    """The management API, Temporal, its UI (prospects' addresses) and the catcher listen on
    loopback; recipients' links and providers' webhooks reach the public app only."""
    published = {
        name
        for name, service in services.items()
        for mapping in service.get("ports", [])
        if not str(mapping).startswith("127.0.0.1:")
    }
    assert published == {"public"}


def test_the_apps_answer_their_health_checks_on_readyz(services: dict[str, Any]) -> None:
    """Healthy means ready: the database and Temporal answer (routes/health.py)."""
    for name, port in (("api", 8000), ("public", 8001)):
        assert f"127.0.0.1:{port}/readyz" in command_text(services[name]["healthcheck"], "test")


def test_the_ui_and_the_apps_reach_temporal_by_service_name(services: dict[str, Any]) -> None:
    assert environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    for name in APPS:
        assert environment(services[name])["OUTBOUND_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_search_attributes_are_registered(services: dict[str, Any]) -> None:
    setup = services[SETUP_SERVICE]
    script = command_text(setup, "entrypoint") + " " + command_text(setup)
    namespace = environment(services["api"]).get("OUTBOUND_TEMPORAL_NAMESPACE", "default")
    in_code = {key.name for key in ALL_KEYWORDS}

    assert setup["image"].startswith("temporalio/admin-tools:")
    assert setup["restart"] == "on-failure"
    assert in_code >= SEARCH_ATTRIBUTES
    for name in in_code:
        assert re.search(rf"\b{name}\b", script), f"{name} is not registered"
    assert "temporal operator search-attribute create" in script
    assert "--type Keyword" in script
    assert "--address temporal:7233" in script
    assert f"--namespace {namespace}" in script


def test_the_apps_start_after_the_database_the_search_attributes_and_the_migration(
    services: dict[str, Any],
) -> None:
    for name in APPS:
        needs = dependencies(services[name])
        assert needs["postgresql"] == "service_healthy"
        assert needs[SETUP_SERVICE] == "service_completed_successfully"
        assert needs["migrate"] == "service_completed_successfully"
    assert dependencies(services["migrate"])["postgresql"] == "service_healthy"
    assert services["migrate"]["restart"] == "on-failure"


def test_dependencies_name_defined_services(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency in dependencies(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} runs {image}"


def test_commands_run_our_entry_points(services: dict[str, Any]) -> None:
    assert command_text(services["api"]) == API_COMMAND
    assert command_text(services["public"]) == PUBLIC_COMMAND
    assert command_text(services["worker"]) == WORKER_COMMAND
    assert command_text(services["migrate"]) == MIGRATE_COMMAND
    for name in (*APPS, "migrate"):
        assert services[name]["build"] in (".", {"context": "."})


def test_the_dockerfile_builds_a_non_root_api_image() -> None:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    by_keyword: dict[str, list[str]] = {}
    for keyword, argument in instructions:
        by_keyword.setdefault(keyword.upper(), []).append(argument.strip())

    assert by_keyword["FROM"] == ["python:3.11-slim"]
    copied = " ".join(by_keyword["COPY"])
    for source in ("pyproject.toml", "README.md", "outbound"):
        assert source in copied.split()
    assert any("pip install --no-cache-dir ." in run for run in by_keyword["RUN"])
    assert by_keyword["USER"][-1] not in ("root", "0")
    assert " ".join(json.loads(by_keyword["CMD"][-1])) == API_COMMAND


def test_the_entry_points_exist() -> None:
    app = ast.parse((ROOT / "outbound" / "api" / "app.py").read_text())
    worker = (ROOT / "outbound" / "worker.py").read_text()

    functions = {node.name for node in app.body if isinstance(node, ast.FunctionDef)}
    assert {"create_app", "create_public_app"} <= functions
    assert 'if __name__ == "__main__":' in worker


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".venv", "var", ".git", "tests"} <= ignored


def _compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) or ``docker-compose``, whichever is installed."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_itself_accepts_the_file(tmp_path: Path) -> None:
    """Schema validation by compose itself; needs no engine, skipped without compose."""
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose on this machine")
    no_variables = tmp_path / "empty.env"
    no_variables.write_text("")
    result = subprocess.run(
        [*command, "--env-file", str(no_variables), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
