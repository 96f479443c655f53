"""Temporal's workflow sandbox, compiling each of its code snippets once per process.

The sandbox (temporalio 1.35) enters a workflow's isolated globals by passing a
small source snippet to ``exec``: one to activate the workflow, and one more for
every payload sequence it encodes or decodes, to ask the workflow which
serialization context applies (``_Instance.get_serialization_context``, three
passes over each completion). ``exec`` of a string compiles it every time;
there are only a handful of distinct snippets, yet compiling them was a tenth of
the worker's CPU (py-spy ``--gil``, 1,500 one-step sends: 9% of samples in
``_Instance._run_code`` itself). Compiling is pure, so caching the code objects
changes nothing the sandbox checks or runs.

This reaches into the SDK's private ``_Instance``: temporalio is pinned to one
version in ``pyproject.toml``, and ``tests/workflows/test_sandbox_runner.py``
fails if the class stops running its snippets through ``_run_code``.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance


@functools.lru_cache(maxsize=256)
def compiled_snippet(source: str) -> CodeType:
    """The code object for one of the sandbox's snippets (the same text every time)."""
    return compile(source, "<temporal-sandbox>", "exec")


class _SnippetCachingInstance(_Instance):
    """The SDK's sandboxed instance, running compiled snippets instead of source text."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        super()._run_code(compiled_snippet(code), **extra_globals)  # type: ignore[arg-type]


class SnippetCachingSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` with the same restrictions and checks, minus the recompiles."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _SnippetCachingInstance(det, self.runner_class, self.restrictions)
