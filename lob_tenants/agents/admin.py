"""Portal pages for agents: the central allow-list (platform team), and for a LOB's members its
tools, agents and runs with every step. Scoping and permissions are `access.portal.PortalAdmin`'s;
writes go through `services`."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from genai_platform.access.policy import WRITE
from genai_platform.access.portal import ADD, CHANGE, DELETE, VIEW, PortalAdmin, PortalTabularInline
from genai_platform.formatting import human_column, listing, money
from genai_platform.inference.errors import InferenceError
from genai_platform.inference.principal import key_principal_by_prefix
from lob_tenants.models import ApiKey
from lob_tenants.portal_forms import FormSection, bound_or_blank, form_page
from lob_tenants.selectors import active_keys_of

from . import services
from .models import Agent, AgentRun, AgentStep, Tool, ToolAllowance


@admin.register(ToolAllowance)
class ToolAllowanceAdmin(PortalAdmin):
    """The endpoints tools may call, per data classification: the platform team's (`tool_allowance`)."""

    access_object = "tool_allowance"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    list_display = ["endpoint_prefix", "classifications_shown", "description", "updated_at"]
    classifications_shown = human_column("classifications", listing)

    def get_fields(self, request: HttpRequest, obj: ToolAllowance | None = None) -> list[str]:
        if obj is not None and not self.has_change_permission(request, obj):  # read-only: words, not JSON
            return ["endpoint_prefix", "classifications_shown", "description"]
        return list(self.fields)

    search_fields = ["endpoint_prefix", "description"]
    fields = ["endpoint_prefix", "classifications", "description"]

    def portal_save(self, request: HttpRequest, obj: ToolAllowance, form: Any, change: bool) -> ToolAllowance:
        existing = ToolAllowance.objects.get(pk=obj.pk) if change else None
        return services.tool_allowance_save(
            allowance=existing,
            endpoint_prefix=obj.endpoint_prefix,
            classifications=list(obj.classifications),
            description=obj.description,
            actor=request.user,
        )

    def portal_delete(self, request: HttpRequest, obj: ToolAllowance) -> None:
        services.tool_allowance_delete(allowance=obj, actor=request.user)


@admin.register(Tool)
class ToolAdmin(PortalAdmin):
    """A LOB's tools: a JSON schema and an HTTP endpoint; the auth header is a credential reference."""

    access_object = "agent"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    list_display = ["name", "lob", "endpoint_url", "timeout_seconds", "updated_at"]
    list_filter = ["lob"]
    list_select_related = ["lob"]
    search_fields = ["name", "endpoint_url"]
    fields = [
        "lob",
        "name",
        "description",
        "parameters",
        "endpoint_url",
        "auth_header_name",
        "auth_credential_ref",
        "timeout_seconds",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Tool | None = None) -> list[str]:
        return [] if obj is None else ["lob"]

    def portal_save(self, request: HttpRequest, obj: Tool, form: Any, change: bool) -> Tool:
        existing = Tool.objects.get(pk=obj.pk) if change else None
        fields = {name: form.cleaned_data[name] for name in services.TOOL_FIELDS if name in form.cleaned_data}
        return services.tool_save(lob=obj.lob, tool=existing, actor=request.user, **fields)

    def portal_delete(self, request: HttpRequest, obj: Tool) -> None:
        services.tool_delete(tool=obj, actor=request.user)


class AgentRunStartForm(forms.Form):
    """What the gateway's `POST /v1/agents/{id}/runs` takes, with the key picked by name: the run is
    paid for, limited and guarded as that key's call."""

    api_key = forms.ModelChoiceField(
        queryset=ApiKey.objects.none(),
        label="API key",
        help_text="An active key of the agent's use case: the run is that key's call (its limits, budget, ledger).",
    )
    input = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=100_000)

    def __init__(self, *args: Any, agent: Agent, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["api_key"].queryset = active_keys_of(agent.use_case)


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = [
            "lob",
            "slug",
            "description",
            "instructions",
            "use_case",
            "alias",
            "tools",
            "vector_stores",
            "max_steps",
            "max_tokens",
            "timeout_seconds",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        lob, use_case = cleaned.get("lob") or getattr(self.instance, "lob", None), cleaned.get("use_case")
        if lob is not None and use_case is not None and use_case.lob_id != lob.pk:
            raise ValidationError({"use_case": "Choose a use case of the agent's own line of business."})
        return cleaned


@admin.register(Agent)
class AgentAdmin(PortalAdmin):
    """A LOB's agents. Saving checks the allow-list for the use case's data and that the use case may
    read each vector store; a new tool or store on an agent of an approved use case sends the use
    case back to the governance board."""

    access_object = "agent"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    shared_relations = frozenset({"alias"})
    form = AgentForm
    list_display = ["slug", "public_id", "lob", "use_case", "alias", "max_steps", "updated_at"]
    list_filter = ["lob"]
    list_select_related = ["lob", "use_case", "alias"]
    search_fields = ["slug", "public_id"]
    filter_horizontal = ["tools", "vector_stores"]

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> list[str]:
        return ["public_id"] if obj is None else ["public_id", "start_run", "lob"]

    def get_fields(self, request: HttpRequest, obj: Agent | None = None) -> list[str]:
        fields = list(AgentForm._meta.fields)
        return ["public_id", *fields] if obj is None else ["public_id", "start_run", *fields]

    def portal_save(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> Agent:
        existing = Agent.objects.get(pk=obj.pk) if change else None
        data = form.cleaned_data
        stores = list(data.get("vector_stores") or [])
        if existing is not None and "vector_stores" in form.fields:
            # Stores the form cannot offer (shared by another LOB) stay attached: the form never showed them.
            offered = form.fields["vector_stores"].queryset
            stores += list(existing.vector_stores.exclude(pk__in=offered.values("pk")))
        try:
            return services.agent_save(
                lob=obj.lob,
                agent=existing,
                slug=data["slug"],
                use_case=data["use_case"],
                alias=data["alias"],
                instructions=data["instructions"],
                tools=list(data.get("tools") or []),
                vector_stores=stores,
                actor=request.user,
                description=data.get("description", ""),
                max_steps=data["max_steps"],
                max_tokens=data["max_tokens"],
                timeout_seconds=data["timeout_seconds"],
            )
        except ValidationError as refused:
            form.add_error(None, refused)
            raise

    def portal_delete(self, request: HttpRequest, obj: Agent) -> None:
        # An agent that ran keeps its record: its runs protect it, and the delete page lists them.
        services.agent_delete(agent=obj, actor=request.user)

    # ---- starting a run ----

    def get_urls(self) -> list[Any]:
        run = path("<path:object_id>/run/", self.admin_site.admin_view(self.run_view), name="agents_agent_run")
        return [run, *super().get_urls()]

    @admin.display(description="runs")
    def start_run(self, agent: Agent) -> str:
        return format_html('<a href="{}">Start a run</a>', reverse("admin:agents_agent_run", args=[agent.pk]))

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Starts a run with one of the use case's keys (`services.agent_run_start`, as the gateway
        does); the run's page follows its steps."""
        agent = self.get_object(request, unquote(object_id))
        form = bound_or_blank(request, "run", AgentRunStartForm, agent=agent)
        if form.is_bound:
            self.portal_require(request, agent, WRITE)
        if form.is_bound and form.is_valid():
            principal = key_principal_by_prefix(form.cleaned_data["api_key"].prefix)
            if principal is None:
                form.add_error("api_key", "This key was revoked or has expired.")
            else:
                messages_in = [{"role": "user", "content": form.cleaned_data["input"]}]
                try:
                    run = services.agent_run_start(
                        agent=agent,
                        principal=principal,
                        request_id=f"req_{uuid.uuid4().hex}",
                        messages=messages_in,
                        actor=request.user,
                    )
                except InferenceError as refused:
                    form.add_error("api_key", refused.message)
                else:
                    messages.success(request, f"Run {run.public_id} started.")
                    return HttpResponseRedirect(reverse("admin:agents_agentrun_change", args=[run.pk]))
        section = FormSection("run", f"Run {agent.slug}", form, "Start the run")
        return form_page(
            self,
            request,
            agent,
            title="Start a run",
            sections=[section],
            intro=f"It answers with {agent.alias}, in at most {agent.max_steps} steps and {agent.timeout_seconds} s.",
            can_write=self.portal_allows(request, WRITE, agent),
        )


class AgentStepInline(PortalTabularInline):
    model = AgentStep
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "index",
        "kind",
        "outcome",
        "inputs_shown",
        "outputs_shown",
        "input_tokens",
        "output_tokens",
        "cost_shown",
        "guardrails_shown",
        "latency_ms",
        "error",
    ]
    inputs_shown = human_column("inputs")
    outputs_shown = human_column("outputs")
    cost_shown = human_column("cost", money)
    guardrails_shown = human_column("guardrails")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentRun)
class AgentRunAdmin(PortalAdmin):
    """Runs of a LOB's agents with every step: LOB data (prompts and answers), read-only, for its
    admins and developers (a central user only through break-glass)."""

    access_object = "lob_data"
    write_object = "agent"
    lob_path = "agent__lob"
    portal_actions = frozenset({VIEW})
    actions = ["cancel"]
    list_display = [
        "public_id",
        "agent",
        "use_case",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_shown",
        "created_at",
    ]
    list_filter = ["status", "agent__lob"]
    list_select_related = ["agent__lob", "use_case__lob"]
    search_fields = ["public_id", "request_id"]
    inlines = [AgentStepInline]
    fields = readonly_fields = [
        "public_id",
        "agent",
        "use_case",
        "api_key",
        "request_id",
        "status",
        "input_shown",
        "output",
        "error_code",
        "error",
        "input_tokens",
        "output_tokens",
        "cost_shown",
        "created_at",
        "started_at",
        "finished_at",
        "deadline_at",
    ]
    input_shown = human_column("input")
    cost_shown = human_column("cost", money)

    @admin.action(description="Cancel selected runs (they stop before their next step)", permissions=["write"])
    def cancel(self, request: HttpRequest, queryset: Any) -> None:
        writable = self.portal_scope(request, queryset, WRITE).select_related("agent__lob")
        refused = queryset.count() - writable.count()
        asked = [services.agent_run_cancel(run=run, actor=request.user) for run in writable if not run.finished]
        self.message_user(request, f"Asked {len(asked)} run(s) to stop; runs that had ended are unchanged.")
        if refused:
            self.message_user(request, f"Your role does not let you cancel {refused} of them.", messages.WARNING)
