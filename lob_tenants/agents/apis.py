"""Management HTTP for agents (`/api/v1/`): a LOB's tools and agents (`agent`), their runs with
every step (`lob_data`: runs hold prompts and answers), sharing an agent with another LOB's use
case (`grant`), and the central allow-list of tool endpoints (`tool_allowance`, central).

Authorization is `access.permissions.RolePermission`; rows are looked up only inside the URL's
LOB, so another LOB's tool, agent or run is a 404 like an unknown one. Writes go through
`services`, whose refusals (the allow-list, the schema, the use case's models) become 400s.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.management_api import ManagementPage, bad_request, get_or_404, paginated_response
from lob_tenants.fields import UseCasePathField
from lob_tenants.models import DataClassification, Lob, UseCase
from lob_tenants.vector_stores.selectors import stores_by_public_id
from model_catalog.models import Alias

from . import services
from .models import Agent, AgentGroupObjectPermission, AgentRun, Tool, ToolAllowance
from .selectors import VIEW_AGENT, agent_runs_of, agents_of, tool_allowances, tools_of

# ---- serializers ----


class ToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField()
    endpoint_url = serializers.CharField()
    auth_header_name = serializers.CharField()
    auth_credential_ref = serializers.CharField(help_text="Where the secret lives (env:/file:), never the secret.")
    timeout_seconds = serializers.FloatField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="What `/v1/agents/{id}/runs` takes.")
    slug = serializers.SlugField()
    description = serializers.CharField()
    instructions = serializers.CharField()
    use_case = serializers.SlugField(source="use_case.slug")
    alias = serializers.CharField(source="alias.name")
    tools = serializers.SerializerMethodField(help_text="Names of its tools.")
    vector_stores = serializers.SerializerMethodField(help_text="Ids (`vs_…`) of the stores its runs are grounded in.")
    max_steps = serializers.IntegerField()
    max_tokens = serializers.IntegerField()
    timeout_seconds = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tools(self, agent: Agent) -> list[str]:
        return sorted(tool.name for tool in agent.tools.all())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_vector_stores(self, agent: Agent) -> list[str]:
        return sorted(store.public_id for store in agent.vector_stores.all())


class StepSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    kind = serializers.CharField()
    outcome = serializers.CharField()
    inputs = serializers.JSONField()
    outputs = serializers.JSONField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=8)
    guardrails = serializers.JSONField()
    latency_ms = serializers.FloatField()
    error = serializers.CharField()
    usage_request_id = serializers.CharField()


class RunSummarySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    agent = serializers.SlugField(source="agent.slug")
    use_case = serializers.CharField(help_text="`<lob>/<use case>` whose key started it.")
    status = serializers.CharField()
    error_code = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=8)
    request_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class RunSerializer(RunSummarySerializer):
    input = serializers.JSONField()
    output = serializers.CharField()
    error = serializers.CharField()
    steps = StepSerializer(many=True)


class AllowanceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint_prefix = serializers.CharField()
    classifications = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _refused(error: Exception) -> ValidationError:
    if isinstance(error, DjangoValidationError) and hasattr(error, "message_dict"):
        return ValidationError(error.message_dict)
    return bad_request(error)


# ---- tools ----


class _ToolInput(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True)
    parameters = serializers.JSONField(help_text="JSON Schema of the arguments (an object).")
    endpoint_url = serializers.CharField(max_length=500)
    auth_header_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    auth_credential_ref = serializers.CharField(max_length=300, required=False, allow_blank=True)
    timeout_seconds = serializers.FloatField(required=False)

    class Meta:
        ref_name = "ToolInput"


class _LobAgentsApi(APIView):
    permission_classes = [RolePermission]
    access_object = "agent"
    lob: Lob  # set by RolePermission


class ToolListApi(_LobAgentsApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="tool_list", tags=["agents"], responses=ToolSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(view=self, request=request, queryset=tools_of(self.lob), serializer=ToolSerializer)


class ToolCreateApi(_LobAgentsApi):
    """Registers a tool. It can be attached to an agent once its endpoint is on the allow-list."""

    @extend_schema(operation_id="tool_create", tags=["agents"], request=_ToolInput, responses={201: ToolSerializer})
    def post(self, request: Request, lob: str) -> Response:
        data = _ToolInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tool = services.tool_save(lob=self.lob, actor=request.user, **data.validated_data)
        except (DjangoValidationError, ValueError) as error:
            raise _refused(error) from error
        return Response(ToolSerializer(tool).data, status=status.HTTP_201_CREATED)


class ToolDetailApi(_LobAgentsApi):
    @extend_schema(operation_id="tool_detail", tags=["agents"], responses=ToolSerializer)
    def get(self, request: Request, lob: str, tool: str) -> Response:
        return Response(ToolSerializer(get_or_404(tools_of(self.lob), name=tool)).data)


class ToolUpdateApi(_LobAgentsApi):
    """Changes a tool (fields given only). A new endpoint must stay allowed for every agent using it."""

    class InputSerializer(_ToolInput):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                field.required = False

        class Meta:
            ref_name = "ToolUpdate"

    @extend_schema(operation_id="tool_update", tags=["agents"], request=InputSerializer, responses=ToolSerializer)
    def post(self, request: Request, lob: str, tool: str) -> Response:
        found = get_or_404(tools_of(self.lob), name=tool)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            updated = services.tool_save(lob=self.lob, tool=found, actor=request.user, **data.validated_data)
        except (DjangoValidationError, ValueError) as error:
            raise _refused(error) from error
        return Response(ToolSerializer(updated).data)


class ToolDeleteApi(_LobAgentsApi):
    @extend_schema(operation_id="tool_delete", tags=["agents"], request=None, responses={204: None})
    def post(self, request: Request, lob: str, tool: str) -> Response:
        services.tool_delete(tool=get_or_404(tools_of(self.lob), name=tool), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- agents ----


class _AgentInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    instructions = serializers.CharField()
    use_case = serializers.SlugField(help_text="A use case of this LOB.")
    alias = serializers.CharField(help_text="One of the use case's models.")
    tools = serializers.ListField(child=serializers.CharField(), required=False, help_text="Names of this LOB's tools.")
    vector_stores = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Ids (`vs_…`) of stores the use case may read: the LOB's own or shared with it.",
    )
    max_steps = serializers.IntegerField(required=False)
    max_tokens = serializers.IntegerField(required=False)
    timeout_seconds = serializers.IntegerField(required=False)

    class Meta:
        ref_name = "AgentInput"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        lob: Lob = self.context["lob"]
        if "use_case" in attrs:
            attrs["use_case"] = UseCase.objects.filter(lob=lob, slug=attrs["use_case"]).first()
            if attrs["use_case"] is None:
                raise ValidationError({"use_case": ["This LOB has no such use case."]})
        if "alias" in attrs:
            attrs["alias"] = Alias.objects.filter(name=attrs["alias"]).first()
            if attrs["alias"] is None:
                raise ValidationError({"alias": ["No such model."]})
        if "tools" in attrs:
            names = attrs["tools"]
            found = list(Tool.objects.filter(lob=lob, name__in=names))
            missing = sorted(set(names) - {t.name for t in found})
            if missing:
                raise ValidationError({"tools": [f"This LOB has no tool named {', '.join(missing)}."]})
            attrs["tools"] = found
        if "vector_stores" in attrs:
            stores = stores_by_public_id(attrs["vector_stores"])
            missing = sorted(set(attrs["vector_stores"]) - {s.public_id for s in stores})
            if missing:
                raise ValidationError({"vector_stores": [f"No vector store {', '.join(missing)}."]})
            attrs["vector_stores"] = stores
        return attrs


def _agent_save(request: Request, lob: Lob, agent: Agent | None, changes: dict[str, Any]) -> Agent:
    base: dict[str, Any] = (
        {"slug": agent.slug, "use_case": agent.use_case, "alias": agent.alias, "instructions": agent.instructions}
        if agent is not None
        else {}
    )
    merged = {**base, **changes}
    try:
        return services.agent_save(lob=lob, agent=agent, actor=request.user, **merged)
    except (DjangoValidationError, ValueError) as error:
        raise _refused(error) from error


class AgentListApi(_LobAgentsApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="agent_list", tags=["agents"], responses=AgentSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(view=self, request=request, queryset=agents_of(self.lob), serializer=AgentSerializer)


class AgentCreateApi(_LobAgentsApi):
    """Registers an agent. Its tools must be on the allow-list for the use case's data; giving an
    agent of an approved use case a tool sends the use case back to review."""

    @extend_schema(operation_id="agent_create", tags=["agents"], request=_AgentInput, responses={201: AgentSerializer})
    def post(self, request: Request, lob: str) -> Response:
        data = _AgentInput(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        agent = _agent_save(request, self.lob, None, dict(data.validated_data))
        return Response(AgentSerializer(agents_of(self.lob).get(pk=agent.pk)).data, status=status.HTTP_201_CREATED)


class AgentDetailApi(_LobAgentsApi):
    @extend_schema(operation_id="agent_detail", tags=["agents"], responses=AgentSerializer)
    def get(self, request: Request, lob: str, agent: str) -> Response:
        return Response(AgentSerializer(get_or_404(agents_of(self.lob), slug=agent)).data)


class AgentUpdateApi(_LobAgentsApi):
    """Changes an agent (fields given only); `tools` replaces its tools, `vector_stores` its stores."""

    class InputSerializer(_AgentInput):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                field.required = False

        class Meta:
            ref_name = "AgentUpdate"

    @extend_schema(operation_id="agent_update", tags=["agents"], request=InputSerializer, responses=AgentSerializer)
    def post(self, request: Request, lob: str, agent: str) -> Response:
        found = get_or_404(agents_of(self.lob), slug=agent)
        data = self.InputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        updated = _agent_save(request, self.lob, found, dict(data.validated_data))
        return Response(AgentSerializer(agents_of(self.lob).get(pk=updated.pk)).data)


class AgentDeleteApi(_LobAgentsApi):
    @extend_schema(operation_id="agent_delete", tags=["agents"], request=None, responses={204: None})
    def post(self, request: Request, lob: str, agent: str) -> Response:
        try:
            services.agent_delete(agent=get_or_404(agents_of(self.lob), slug=agent), actor=request.user)
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- runs (LOB data) ----


class _RunsApi(APIView):
    permission_classes = [RolePermission]
    access_object = "lob_data"
    lob: Lob


class AgentRunListApi(_RunsApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="agent_run_list", tags=["agents"], responses=RunSummarySerializer(many=True))
    def get(self, request: Request, lob: str, agent: str) -> Response:
        found = get_or_404(agents_of(self.lob), slug=agent)
        runs = agent_runs_of(self.lob).filter(agent=found)
        return paginated_response(view=self, request=request, queryset=runs, serializer=RunSummarySerializer)


class AgentRunReadApi(_RunsApi):
    @extend_schema(operation_id="agent_run_detail", tags=["agents"], responses=RunSerializer)
    def get(self, request: Request, lob: str, agent: str, run_id: str) -> Response:
        run: AgentRun = get_or_404(agent_runs_of(self.lob), agent__slug=agent, public_id=run_id)
        return Response(RunSerializer(run).data)


# ---- sharing an agent with another LOB's use case ----


class AgentGrantSerializer(serializers.Serializer):
    agent = serializers.SlugField(source="content_object.slug")
    use_case = serializers.CharField(source="group.use_case", help_text="`<lob>/<use case>` that may run it.")


class _AgentGrantInput(serializers.Serializer):
    use_case = UseCasePathField()

    class Meta:
        ref_name = "AgentGrantChange"


def _agent_grants(agent: Agent) -> Any:
    return AgentGroupObjectPermission.objects.filter(
        content_object=agent, group__use_case__isnull=False, permission__codename=VIEW_AGENT
    ).select_related("content_object", "group__use_case__lob")


class AgentShareApi(APIView):
    """Lets another use case run this agent with its own keys (LOB admins only)."""

    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(
        operation_id="agent_share", tags=["agents"], request=_AgentGrantInput, responses={201: AgentGrantSerializer}
    )
    def post(self, request: Request, lob: str, agent: str) -> Response:
        found = get_or_404(agents_of(self.lob), slug=agent)
        data = _AgentGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        services.agent_share(agent=found, use_case=use_case, actor=request.user)
        grant = _agent_grants(found).get(group__use_case=use_case)
        return Response(AgentGrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class AgentUnshareApi(APIView):
    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(operation_id="agent_unshare", tags=["agents"], request=_AgentGrantInput, responses={204: None})
    def post(self, request: Request, lob: str, agent: str) -> Response:
        found = get_or_404(agents_of(self.lob), slug=agent)
        data = _AgentGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        if not _agent_grants(found).filter(group__use_case=use_case).exists():
            raise ValidationError({"use_case": ["This agent is not shared with this use case."]})
        services.agent_unshare(agent=found, use_case=use_case, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- the central allow-list ----


class _AllowanceInput(serializers.Serializer):
    endpoint_prefix = serializers.CharField(max_length=500)
    classifications = serializers.ListField(child=serializers.ChoiceField(choices=DataClassification.choices))
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

    class Meta:
        ref_name = "ToolAllowanceInput"


class _AllowanceApi(APIView):
    permission_classes = [RolePermission]
    access_object = "tool_allowance"


class ToolAllowanceListApi(_AllowanceApi):
    pagination_class = ManagementPage

    @extend_schema(
        operation_id="tool_allowance_list", tags=["tool allow-list"], responses=AllowanceSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            view=self, request=request, queryset=tool_allowances(), serializer=AllowanceSerializer
        )


class ToolAllowanceCreateApi(_AllowanceApi):
    @extend_schema(
        operation_id="tool_allowance_create",
        tags=["tool allow-list"],
        request=_AllowanceInput,
        responses={201: AllowanceSerializer},
    )
    def post(self, request: Request) -> Response:
        data = _AllowanceInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            allowance = services.tool_allowance_save(actor=request.user, **data.validated_data)
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(AllowanceSerializer(allowance).data, status=status.HTTP_201_CREATED)


class ToolAllowanceDetailApi(_AllowanceApi):
    @extend_schema(operation_id="tool_allowance_detail", tags=["tool allow-list"], responses=AllowanceSerializer)
    def get(self, request: Request, allowance_id: int) -> Response:
        return Response(AllowanceSerializer(get_or_404(tool_allowances(), pk=allowance_id)).data)


class ToolAllowanceUpdateApi(_AllowanceApi):
    """Changes an allowance; a tool it no longer covers is refused at its next call."""

    @extend_schema(
        operation_id="tool_allowance_update",
        tags=["tool allow-list"],
        request=_AllowanceInput,
        responses=AllowanceSerializer,
    )
    def post(self, request: Request, allowance_id: int) -> Response:
        allowance: ToolAllowance = get_or_404(tool_allowances(), pk=allowance_id)
        data = _AllowanceInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            allowance = services.tool_allowance_save(allowance=allowance, actor=request.user, **data.validated_data)
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(AllowanceSerializer(allowance).data)


class ToolAllowanceDeleteApi(_AllowanceApi):
    @extend_schema(operation_id="tool_allowance_delete", tags=["tool allow-list"], request=None, responses={204: None})
    def post(self, request: Request, allowance_id: int) -> Response:
        services.tool_allowance_delete(allowance=get_or_404(tool_allowances(), pk=allowance_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
