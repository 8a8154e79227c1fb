"""Governed agents: a LOB's tools and agents, the central allow-list of tool endpoints, and the
record of every run and step.

Writes go through `services.py`, which validates (the allow-list, the JSON schema, the use case's
models), audits, and sends an approved use case back to review when an agent gains a tool.
"""

from __future__ import annotations

import re
import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from lob_tenants.models import DataClassification, Lob, UseCase
from model_catalog.models import Alias

from .endpoints import EndpointError, endpoint_parse

#: The function-name rule of OpenAI's tools, which every provider accepts.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
CREDENTIAL_REFERENCE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/\S+)$")


def agent_public_id() -> str:
    return f"agt_{secrets.token_hex(12)}"


def run_public_id() -> str:
    return f"run_{secrets.token_hex(12)}"


def validate_endpoint_prefix(value: str) -> None:
    try:
        endpoint_parse(value, prefix=True)
    except EndpointError as error:
        raise ValidationError(str(error)) from error


def validate_tool_endpoint(value: str) -> None:
    try:
        endpoint_parse(value)
    except EndpointError as error:
        raise ValidationError(str(error)) from error


def validate_classifications(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Give a list of data classifications.")
    unknown = sorted(set(value) - set(DataClassification.values))
    if unknown:
        raise ValidationError(
            f"Unknown data classification(s): {', '.join(unknown)}; use {', '.join(DataClassification.values)}."
        )


def validate_credential_reference(value: str) -> None:
    """A secret is never stored: only where the worker finds it (`env:NAME` or `file:/path`)."""
    if value and not CREDENTIAL_REFERENCE.match(value):
        raise ValidationError(
            "Give a credential reference, env:VARIABLE_NAME or file:/absolute/path, never the secret itself."
        )


def validate_parameters_schema(value: object) -> None:
    """The tool's arguments: a JSON Schema (checked against its meta-schema) describing an object."""
    from jsonschema import SchemaError, validators

    if not isinstance(value, dict):
        raise ValidationError("The parameters must be a JSON Schema object.")
    validator_class = validators.validator_for(value)
    try:
        validator_class.check_schema(value)
    except SchemaError as error:
        raise ValidationError(f"Not a valid JSON Schema: {error.message}") from error
    if value.get("type") != "object":
        raise ValidationError('The parameters schema must describe an object ("type": "object").')


class ToolAllowance(models.Model):
    """An endpoint prefix the central team allows tools to call, and the data classifications that
    may be sent to it. A tool is usable by an agent only while its endpoint lies under an allowance
    that lists the agent's use case's classification."""

    endpoint_prefix = models.CharField(
        max_length=500,
        unique=True,
        validators=[validate_endpoint_prefix],
        help_text="Scheme, host, optional port and optional path prefix, e.g. https://tools.example.com/crm.",
    )
    classifications = models.JSONField(
        default=list, validators=[validate_classifications], help_text='e.g. ["public", "internal"]'
    )
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["endpoint_prefix"]

    def __str__(self) -> str:
        return f"{self.endpoint_prefix} ({', '.join(self.classifications) or 'nothing'})"


class Tool(models.Model):
    """A function a LOB's agents may call: a JSON-Schema-described HTTP endpoint. The platform POSTs
    the model's arguments (validated against `parameters`) to it as JSON."""

    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="tools")
    name = models.CharField(
        max_length=64,
        validators=[RegexValidator(TOOL_NAME_PATTERN, "Letters, digits, _ and - only, at most 64.")],
        help_text="The function name the model sees.",
    )
    description = models.TextField(blank=True, help_text="What the tool does, for the model.")
    parameters = models.JSONField(
        default=dict, validators=[validate_parameters_schema], help_text="JSON Schema of the arguments."
    )
    endpoint_url = models.CharField(max_length=500, validators=[validate_tool_endpoint])
    auth_header_name = models.CharField(max_length=100, default="Authorization", blank=True)
    auth_credential_ref = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_credential_reference],
        help_text="Where the worker reads the auth header's value: env:NAME or file:/path. Never the secret.",
    )
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(300)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["lob", "name"]
        constraints = [models.UniqueConstraint(fields=["lob", "name"], name="tool_unique_name_per_lob")]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.name}"


class Agent(models.Model):
    """Instructions, a model, tools and vector stores, run by the plan-act loop under one use case's
    governance."""

    public_id = models.CharField(max_length=32, unique=True, default=agent_public_id, editable=False)
    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="agents")
    slug = models.SlugField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    instructions = models.TextField(help_text="The system prompt of every run.")
    use_case = models.ForeignKey(
        UseCase, on_delete=models.PROTECT, related_name="agents", help_text="The use case it runs under (same LOB)."
    )
    alias = models.ForeignKey(Alias, on_delete=models.PROTECT, related_name="+", help_text="The model it runs on.")
    tools = models.ManyToManyField(Tool, blank=True, related_name="agents")
    vector_stores = models.ManyToManyField(
        "vector_stores.VectorStore",
        blank=True,
        related_name="agents",
        help_text="Stores each run is grounded in: its LOB's own, or shared with its use case.",
    )
    max_steps = models.PositiveIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(50)], help_text="Model calls per run."
    )
    max_tokens = models.PositiveIntegerField(
        default=20_000, validators=[MinValueValidator(1)], help_text="Input plus output tokens over the run."
    )
    timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(1), MaxValueValidator(3600)], help_text="Wall-clock limit per run."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["lob", "slug"]
        constraints = [models.UniqueConstraint(fields=["lob", "slug"], name="agent_unique_slug_per_lob")]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.slug}"


class AgentRun(models.Model):
    """One run of an agent: who started it, what it was asked, how it ended, and what it cost."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        STEP_LIMIT_REACHED = "step_limit_reached", "Step limit reached"
        TIMED_OUT = "timed_out", "Timed out"
        CANCELLED = "cancelled"

    FINISHED = frozenset(
        {Status.SUCCEEDED, Status.FAILED, Status.STEP_LIMIT_REACHED, Status.TIMED_OUT, Status.CANCELLED}
    )

    public_id = models.CharField(max_length=32, unique=True, default=run_public_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs")
    #: The use case of the key that started it: its own, or one the agent was shared with.
    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="+")
    api_key = models.ForeignKey("lob_tenants.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    request_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.QUEUED)
    input = models.JSONField(help_text="The messages the run started with.")
    output = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(help_text="When the run times out.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class AgentStep(models.Model):
    """One step of a run: a model call (metered like a gateway call), a tool call (or its refusal),
    or the retrieval from the agent's vector stores that grounds the run (its sources)."""

    class Kind(models.TextChoices):
        MODEL = "model"
        TOOL = "tool"
        RETRIEVAL = "retrieval"

    class Outcome(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        REFUSED = "refused"
        BLOCKED = "blocked"

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OK)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    #: What the guardrails did: policy version and actions (never the text).
    guardrails = models.JSONField(default=dict, blank=True)
    latency_ms = models.FloatField(default=0)
    #: Why a step failed or was refused (a refused tool: not attached, or its endpoint not allowed).
    error = models.TextField(blank=True)
    #: The usage record of a model step (its request id in the ledger).
    usage_request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="agent_step_unique_index")]

    def __str__(self) -> str:
        return f"{self.run.public_id}#{self.index} {self.kind} {self.outcome}"


# Guardian's direct foreign-key tables: an agent is shared with another LOB's use case by granting
# `agents.view_agent` to that use case's grant group.
class AgentUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Agent, on_delete=models.CASCADE)


class AgentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Agent, on_delete=models.CASCADE)
