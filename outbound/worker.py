"""The Temporal worker process: runs enrollment workflows and their activities.

Run any number of these against the same task queue to scale out
(``python -m outbound.worker``).
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from outbound.activities.addresses import AddressActivities
from outbound.activities.colleagues import ColleagueActivities
from outbound.activities.delivery import DeliveryActivities, wall_clock
from outbound.activities.inbox import InboxActivities
from outbound.activities.launch import LaunchActivities
from outbound.activities.records import RecordActivities
from outbound.activities.signal_all import SignalAllActivities
from outbound.activities.slots import SlotActivities
from outbound.activities.sms import SmsActivities
from outbound.activities.webhooks import WebhookActivities
from outbound.mail.address_check import AddressChecker
from outbound.mail.hosts import HostPolicy
from outbound.oauth.tokens import AccessTokens
from outbound.observability.logs import configure_logging
from outbound.observability.metrics import serve_worker_metrics
from outbound.sandbox_runner import SnippetCachingSandboxedWorkflowRunner
from outbound.settings import Settings, get_settings
from outbound.store.encryption import Keyring, check_stored_secrets
from outbound.store.engine import make_engine
from outbound.store.migrate import require_current_schema
from outbound.store.reputation import ReputationLimits
from outbound.temporal_client import connect, metrics_runtime
from outbound.tracking.tokens import LinkSigner
from outbound.webhooks.dispatch import Dispatcher
from outbound.workflows.campaign_signal import CampaignSignalWorkflow
from outbound.workflows.enrollment import EnrollmentWorkflow, PatchedEnrollmentWorkflow
from outbound.workflows.inbox_sync import InboxSyncWorkflow
from outbound.workflows.launcher import CampaignLaunchWorkflow
from outbound.workflows.webhook_delivery import WebhookDeliveryWorkflow

WORKFLOWS: Sequence[type] = (
    EnrollmentWorkflow,
    PatchedEnrollmentWorkflow,
    CampaignLaunchWorkflow,
    CampaignSignalWorkflow,
    InboxSyncWorkflow,
    WebhookDeliveryWorkflow,
)


def address_checker(settings: Settings) -> AddressChecker:
    """The worker's address checker (one DNS cache per process)."""
    return AddressChecker(
        nameservers=settings.dns_nameservers or None,
        port=settings.dns_port,
        timeout_seconds=settings.dns_timeout_seconds,
        check_dns=settings.check_address_dns,
    )


def activities_for(
    engine: Engine,
    settings: Settings,
    client: Client,
    send_clock: Callable[[], datetime] = wall_clock,
) -> list[Any]:
    """Every activity the workflows call, bound to this process's engine, settings and client."""
    keyring = Keyring.from_settings(settings)
    tokens = AccessTokens(engine, settings, keyring, send_clock)  # one cache per process
    delivery = DeliveryActivities(engine, settings, send_clock, tokens)
    webhooks = WebhookActivities(engine, settings, keyring)
    records = RecordActivities(engine, Dispatcher(settings))
    slots = SlotActivities(engine, settings)
    sms = SmsActivities(engine, settings, clock=send_clock)
    addresses = AddressActivities(engine, address_checker(settings))
    launcher = LaunchActivities(engine, client, settings)
    signaller = SignalAllActivities(engine, client)
    colleagues = ColleagueActivities(engine)
    inbox = InboxActivities(
        engine,
        client,
        keyring,
        tokens,
        LinkSigner.from_settings(settings),
        HostPolicy.from_settings(settings),
        ReputationLimits.from_settings(settings),
    )
    return [
        launcher.start_enrollment_batch,
        signaller.signal_enrollment_batch,
        delivery.send_step,
        records.record_state,
        slots.reserve_slot,
        slots.release_slot,
        addresses.check_address,
        colleagues.company_turn,
        inbox.poll_inbox,
        sms.send_sms,
        sms.settle_sms,
        sms.reserve_sms_slot,
        sms.release_sms_slot,
        webhooks.deliver_webhook,
        webhooks.disable_webhook_subscription,
    ]


def build_worker(
    client: Client,
    engine: Engine,
    settings: Settings,
    send_clock: Callable[[], datetime] = wall_clock,
    activities: Sequence[Callable[..., Any]] | None = None,
    **options: Any,
) -> Worker:
    """A worker for the Outbound task queue (tests pass a virtual ``send_clock`` and extra
    Worker ``options``; the month benchmark passes ``activities`` with a stand-in send)."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=(
            activities_for(engine, settings, client, send_clock)
            if activities is None
            else activities
        ),
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_runner=workflow_runner(settings.workflow_module_isolation),
        **options,
    )


def workflow_runner(isolate_modules: bool) -> SandboxedWorkflowRunner:
    """Temporal's sandbox, re-importing Outbound's modules for every workflow or not.

    Isolated, each new workflow (or one replayed after eviction from the cache)
    imports ``enrollment.py`` afresh, and the sandbox checks every call the
    workflow code makes: the test suite runs this way, so a call that could break
    determinism (the clock, randomness, I/O) fails a test. Passed through, the
    modules are imported once per worker, as Temporal advises for modules known
    to be deterministic: the default, since the import and the registration of
    the workflow's signal and update handlers took a seventh of the worker's
    time in py-spy, and two interleaved pairs of send benchmarks at 500
    prospects measured 94–98 ms of worker CPU per send against 115–117 ms.
    Both replay the recorded histories alike (``tests/workflows/test_replay.py``),
    and both compile the sandbox's snippets once (``outbound/sandbox_runner.py``).
    """
    restrictions = SandboxRestrictions.default
    if not isolate_modules:
        restrictions = restrictions.with_passthrough_modules("outbound")
    return SnippetCachingSandboxedWorkflowRunner(restrictions=restrictions)


def compile_workflow_modules() -> None:
    """Write bytecode for Outbound's modules if it is missing.

    The workflow sandbox imports the workflow modules afresh for every workflow
    it creates (a new sequence, or one evicted from the cache and replayed).
    Without a ``.pyc`` beside them, as under ``PYTHONDONTWRITEBYTECODE=1`` (set
    here and in many images) with an editable install, each of those imports
    compiles ``enrollment.py`` from source: a tenth of the worker's CPU during a
    large Start, measured with py-spy. ``compileall`` writes the files even
    under that variable; where the folder is read-only it quietly does nothing.
    """
    package = Path(__file__).resolve().parent
    compileall.compile_dir(package, quiet=2, workers=1)


async def run_worker(settings: Settings) -> None:
    """Run until cancelled (Ctrl-C / SIGTERM)."""
    await asyncio.to_thread(compile_workflow_modules)
    engine = make_engine(settings.database_url)
    require_current_schema(engine)  # `outbound db upgrade` (or the API) migrates, never a worker
    check_stored_secrets(engine, Keyring.from_settings(settings))
    client = await connect(settings, metrics_runtime(settings))
    if settings.worker_metrics_port:
        serve_worker_metrics(settings.worker_metrics_port, settings.metrics_host)
    logging.getLogger(__name__).info(
        "worker polling task queue %r at %s", settings.task_queue, settings.temporal_address
    )
    # Webhook events a process stored but could not hand over (it died) go out anyway.
    sweeper = asyncio.create_task(Dispatcher(settings).sweep(engine, client))
    try:
        await build_worker(client, engine, settings).run()
    finally:
        sweeper.cancel()


def main() -> None:
    """Entry point of ``python -m outbound.worker``."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
