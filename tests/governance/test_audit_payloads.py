"""Nothing a LOB wrote reaches a centrally readable audit event: agent instructions, tool
descriptions and parameters, prompt text and document text appear there only as digests.

Every service that writes about a LOB's content runs once with a marker in each text the LOB
authors; then every audit event written, whatever its kind, is scanned for the marker. The kinds
those services can write are read from their source, so a new kind fails here until the scenario
writes it (or it is listed below with the reason it carries no LOB text)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import TestCase

from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from lob_tenants.agents.services import (
    agent_delete,
    agent_run_cancel,
    agent_run_create,
    agent_save,
    tool_allowance_save,
    tool_delete,
    tool_save,
)
from lob_tenants.services import prompt_template_save, use_case_prompt_pin
from lob_tenants.vector_stores.models import Document
from lob_tenants.vector_stores.services import (
    Upload,
    document_delete,
    documents_ingest,
    grounding_attach,
    grounding_detach,
    vector_store_delete,
)
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key, vector_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

MARKER = "lob-authored-7f3a9c"
#: The services that write about a LOB's own content (their audit kinds are read from the source).
CONTENT_SERVICES = ["lob_tenants/agents/services.py", "lob_tenants/vector_stores/services.py"]
EXTRA_KINDS = {"prompt_template.saved", "use_case.prompt_pinned"}
#: Kinds the scenario does not write, and why they carry no LOB-authored text.
NOT_WRITTEN = {
    "tool_allowance.deleted": "the central allow-list: written by the central team, not a LOB",
    "grounding.changed": "the same state as grounding.attached (store id, top_k, threshold)",
    "vector_store.document_quarantined": "the document's id, version and digest and the guardrail's decisions "
    "(ContextScreen.to_dict: rule, action, what kind of finding), never the document's text",
}


def kinds_in_source() -> set[str]:
    kinds = set()
    for path in CONTENT_SERVICES:
        source = (Path(settings.BASE_DIR) / path).read_text()
        kinds |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', _audit_calls(source)))
    return kinds | EXTRA_KINDS


def _audit_calls(source: str) -> str:
    """The text of every `audit_record(...)` call (the action names appear there)."""
    calls, start = [], 0
    while (start := source.find("audit_record(", start)) != -1:
        depth, end = 0, start
        for end in range(start + len("audit_record"), len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        calls.append(source[start : end + 1])
        start = end
    return "\n".join(calls)


def run_every_content_service() -> None:
    actor = UserFactory(username="lob-dev")
    lob = LobFactory(slug="retail")
    chat = AliasFactory(name="chat-for-audit")
    use_case = UseCaseFactory(lob=lob, slug="assistant", aliases=[chat], status="draft")
    allowance = tool_allowance_save(endpoint_prefix="https://tools.example.com/", classifications=["internal"])
    tool_allowance_save(
        allowance=allowance, endpoint_prefix="https://tools.example.com/", classifications=["internal", "public"]
    )

    template = prompt_template_save(
        lob=lob, name="greeting", template=f"You are the {MARKER} assistant.", variables=[], actor=actor
    )
    use_case_prompt_pin(use_case=use_case, template_version=template, actor=actor)

    tool = tool_save(
        lob=lob,
        actor=actor,
        name="crm",
        description=f"Finds customers {MARKER}",
        parameters={"type": "object", "properties": {"q": {"type": "string", "description": MARKER}}},
        endpoint_url="https://tools.example.com/crm",
    )
    tool = tool_save(lob=lob, tool=tool, actor=actor, description=f"Finds customers, politely {MARKER}")
    store = vector_store(lob, ingestion_use_case=use_case, description=f"Our {MARKER} policies")
    agent = agent_save(
        lob=lob,
        slug="helper",
        use_case=use_case,
        alias=chat,
        instructions=f"Always {MARKER}.",
        tools=[tool],
        vector_stores=[store],
        description=f"Helps {MARKER}",
        actor=actor,
    )
    agent = agent_save(
        lob=lob,
        slug="helper",
        use_case=use_case,
        alias=chat,
        instructions=f"Never {MARKER}.",
        agent=agent,
        actor=actor,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        documents_ingest(
            store=store,
            actor=actor,
            uploads=[Upload(external_id="handbook", filename="handbook.md", content=f"# Handbook\n{MARKER}".encode())],
        )
    runner = agent_save(lob=lob, slug="runner", use_case=use_case, alias=chat, instructions="Run.", actor=actor)
    run = agent_run_create(
        agent=runner,
        principal=key_principal(issue_key(use_case, environment="sandbox")[1]),
        request_id="req_audit",
        messages=[{"role": "user", "content": f"Tell me about {MARKER}"}],
        actor=actor,
    )
    agent_run_cancel(run=run, actor=actor)
    grounding_attach(use_case=use_case, store=store, actor=actor)
    grounding_detach(use_case=use_case, store=store, actor=actor)
    agent_delete(agent=agent, actor=actor)
    tool_delete(tool=tool, actor=actor)
    document_delete(document=Document.objects.get(store=store, external_id="handbook"), actor=actor)
    vector_store_delete(store=store, actor=actor)


def test_no_audit_event_carries_text_a_lob_wrote():
    run_every_content_service()

    written = set(AuditEvent.objects.values_list("action", flat=True))
    missing = kinds_in_source() - written - set(NOT_WRITTEN)
    assert not missing, f"the scenario does not write {sorted(missing)}: write them, or say why they carry no LOB text"
    leaking = [
        event.action
        for event in AuditEvent.objects.all()
        if MARKER in json.dumps([event.before, event.after, event.object_id, event.object_type])
    ]
    assert leaking == []


def test_the_digest_lets_the_lob_prove_what_it_saved():
    run_every_content_service()

    created = AuditEvent.objects.filter(action="agent.created").order_by("pk").first()  # "helper", then "runner"
    expected = hashlib.sha256(f"Always {MARKER}.".encode()).hexdigest()
    assert created.after["instructions"] == {"sha256": expected, "chars": len(f"Always {MARKER}.")}
