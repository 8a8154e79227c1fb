"""HTTP for the prompt catalog: a LOB's template versions (list, save the next version, read one,
preview a render) and the version a use case pins.

Templates are LOB data: reading them needs `lob_data` `read` (LOB admins and developers); saving a
version or pinning one is part of building use cases (`use_case` `write`). Saved versions are never
changed: there is no update endpoint, only "save the next version". As everywhere in `apis.py`, rows
are only looked up inside the URL's LOB, so another LOB's template is a 404 like an unknown one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.access.policy import READ
from genai_platform.management_api import ManagementPage, bad_request, get_or_404, paginated_response

from .apis import UseCaseSerializer, use_cases_of
from .models import Lob, PromptTemplate
from .prompts import VARIABLE_TYPES, PromptVariableError, prompt_render
from .selectors import prompt_templates_of, prompt_templates_readable_by
from .services import prompt_template_save, use_case_prompt_pin


class VariableSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    type = serializers.ChoiceField(choices=VARIABLE_TYPES)
    required = serializers.BooleanField(required=False, help_text="Default: true, unless a default is given.")
    default = serializers.JSONField(required=False, allow_null=True, help_text="A value of the declared type.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)

    class Meta:
        ref_name = "PromptVariable"


class PromptTemplateSerializer(serializers.Serializer):
    lob = serializers.SlugField(source="lob.slug")
    name = serializers.SlugField()
    version = serializers.IntegerField()
    template = serializers.CharField(help_text="Jinja2, rendered sandboxed with strict undefined variables.")
    variables = VariableSerializer(many=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()


class _TemplateFilterSerializer(serializers.Serializer):
    name = serializers.SlugField(required=False, help_text="Only the versions of this template.")

    class Meta:
        ref_name = "PromptTemplateFilter"


class _PromptTemplateApi(APIView):
    permission_classes = [RolePermission]
    access_object = "lob_data"
    lob: Lob  # set by RolePermission

    def version_of(self, name: str, version: int) -> PromptTemplate:
        return get_or_404(prompt_templates_of(lob=self.lob), name=name, version=version)


class PromptTemplateListApi(_PromptTemplateApi):
    """Every version of the LOB's templates (`?name=` for one template's), newest version first."""

    pagination_class = ManagementPage

    @extend_schema(
        operation_id="prompt_template_list",
        tags=["prompt templates"],
        parameters=[_TemplateFilterSerializer],
        responses=PromptTemplateSerializer(many=True),
    )
    def get(self, request: Request, lob: str) -> Response:
        query = _TemplateFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        templates = prompt_templates_of(lob=self.lob, name=query.validated_data.get("name"))
        return paginated_response(view=self, request=request, queryset=templates, serializer=PromptTemplateSerializer)


class PromptTemplateSaveApi(_PromptTemplateApi):
    """Saves the next version of a template (version 1 for a new name). The template must declare
    exactly the variables it uses; a syntax error or a mismatch is a 400 that says which."""

    access_object = "use_case"

    class InputSerializer(serializers.Serializer):
        name = serializers.SlugField(max_length=100)
        template = serializers.CharField(trim_whitespace=False)
        variables = VariableSerializer(many=True, required=False, default=list)

        class Meta:
            ref_name = "PromptTemplateSave"

    @extend_schema(
        operation_id="prompt_template_save",
        tags=["prompt templates"],
        request=InputSerializer,
        responses={201: PromptTemplateSerializer},
    )
    def post(self, request: Request, lob: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            saved = prompt_template_save(
                lob=self.lob,
                name=values["name"],
                template=values["template"],
                variables=[dict(v) for v in values["variables"]],
                actor=request.user,
            )
        except DjangoValidationError as error:
            raise bad_request(error) from error
        return Response(PromptTemplateSerializer(saved).data, status=status.HTTP_201_CREATED)


class PromptTemplateDetailApi(_PromptTemplateApi):
    @extend_schema(operation_id="prompt_template_detail", tags=["prompt templates"], responses=PromptTemplateSerializer)
    def get(self, request: Request, lob: str, template: str, version: int) -> Response:
        return Response(PromptTemplateSerializer(self.version_of(template, version)).data)


class PromptTemplateRenderApi(_PromptTemplateApi):
    """Previews a version rendered with `variables`, exactly as the gateway would render it; bad
    variables are a 400 naming the variable. Nothing is saved or sent to a model."""

    access_action = READ  # a preview reads the template; it changes nothing

    class InputSerializer(serializers.Serializer):
        variables = serializers.DictField(required=False, default=dict, help_text="Names to values.")

        class Meta:
            ref_name = "PromptTemplateRender"

    class OutputSerializer(serializers.Serializer):
        text = serializers.CharField()

        class Meta:
            ref_name = "PromptTemplateRendered"

    @extend_schema(
        operation_id="prompt_template_render",
        tags=["prompt templates"],
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def post(self, request: Request, lob: str, template: str, version: int) -> Response:
        found = self.version_of(template, version)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            text = prompt_render(template_version=found, variables=data.validated_data["variables"])
        except PromptVariableError as error:
            raise ValidationError({"variables": [error.message]}) from error
        return Response(self.OutputSerializer({"text": text}).data)


class UseCasePromptPinApi(APIView):
    """Pins the prompt template version the gateway renders first into the use case's chat
    completions: one of this LOB's, or another LOB's version shared with this use case by grant.
    `{"template": null}` unpins. Audited; gateways use the new pin within seconds."""

    permission_classes = [RolePermission]
    access_object = "use_case"
    lob: Lob

    class InputSerializer(serializers.Serializer):
        template = serializers.SlugField(max_length=100, allow_null=True, help_text="Template name; null unpins.")
        version = serializers.IntegerField(min_value=1, required=False)
        owner = serializers.SlugField(
            required=False, help_text="The LOB that owns the template, when it is shared by another LOB."
        )

        class Meta:
            ref_name = "UseCasePromptPin"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["template"] is None:
                return {"template_version": None}
            if "version" not in attrs:
                raise ValidationError({"version": ["Pin one version of the template."]})
            use_case, lob = self.context["use_case"], self.context["lob"]
            found = (
                prompt_templates_readable_by(use_case=use_case)
                .filter(lob__slug=attrs.get("owner", lob.slug), name=attrs["template"], version=attrs["version"])
                .first()
            )
            if found is None:  # unknown, or another LOB's not shared with this use case: the same answer
                raise ValidationError({"template": ["No such version of this LOB or shared with this use case."]})
            return {"template_version": found}

    @extend_schema(
        operation_id="use_case_prompt_pin",
        tags=["use cases"],
        request=InputSerializer,
        responses=UseCaseSerializer,
        parameters=[OpenApiParameter("use_case", str, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = get_or_404(use_cases_of(self.lob), slug=use_case)
        data = self.InputSerializer(data=request.data, context={"use_case": found, "lob": self.lob})
        data.is_valid(raise_exception=True)
        try:
            use_case_prompt_pin(
                use_case=found, template_version=data.validated_data["template_version"], actor=request.user
            )
        except DjangoValidationError as error:
            raise bad_request(error) from error
        return Response(UseCaseSerializer(use_cases_of(self.lob).get(pk=found.pk)).data)
