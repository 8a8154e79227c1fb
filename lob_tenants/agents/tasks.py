"""Agent runs on the `platform` queue: a thin task over `services.agent_run_execute`."""

from __future__ import annotations

from celery import shared_task

from .services import agent_run_execute


@shared_task(name="agents.execute_run", acks_late=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    """Idempotent: a redelivered message finds the run already taken and leaves it alone (or, past
    its deadline, records that the worker running it stopped)."""
    agent_run_execute(run_id=run_id)
