"""Small portal pages beside a row's change page (a key's scopes, starting an agent's run, a
store's groundings and shares): one or more forms, each posted on its own, each writing through
one service. The admin classes own the forms and the services; this module only draws the page
and puts a service's refusal on the field it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

#: The POST field that says which of a page's forms was sent.
FORM_FIELD = "portal_form"


@dataclass(frozen=True)
class FormSection:
    """One form of a page: `name` is what FORM_FIELD carries when it is sent."""

    name: str
    title: str
    form: forms.Form
    submit: str
    help: str = ""


def errors_onto(form: forms.Form, error: ValidationError | ValueError) -> None:
    """A service's refusal on the form: on its field when the service named one, above the form otherwise."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    elif isinstance(error, ValidationError):
        form.add_error(None, error)
    else:
        form.add_error(None, str(error))


def sent_form(request: HttpRequest) -> str:
    return request.POST.get(FORM_FIELD, "") if request.method == "POST" else ""


def form_page(
    model_admin: ModelAdmin,
    request: HttpRequest,
    obj: models.Model,
    *,
    title: str,
    sections: list[FormSection],
    intro: str = "",
    can_write: bool = True,
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "title": title,
        "intro": intro,
        "sections": sections,
        "form_field": FORM_FIELD,
        "can_write": can_write,
    }
    return TemplateResponse(request, "admin/lob_tenants/form_page.html", context)


def bound_or_blank(request: HttpRequest, name: str, form_class: type[forms.Form], **kwargs: Any) -> forms.Form:
    """The form bound to the POST when it is the one sent, a blank one otherwise."""
    return form_class(request.POST, **kwargs) if sent_form(request) == name else form_class(**kwargs)
