"""Prompt templates: Jinja2, sandboxed, with declared and typed variables. The only module that imports jinja2.

A template is checked when a version is saved (`template_check`): its syntax, and that the variables
it declares are exactly the ones it uses. Rendering (`prompt_render`) checks the values given
against the declaration, fills in defaults, and renders in a `SandboxedEnvironment` with
`StrictUndefined`, so a template can neither reach Python internals nor silently print nothing for
a misspelt name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jinja2
from django.core.exceptions import ValidationError
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE_CHARS = 50_000
MAX_VARIABLES = 50
MAX_DESCRIPTION_CHARS = 500
#: A rendered prompt longer than this is refused (a loop in a template must not fill the gateway's memory).
MAX_RENDERED_CHARS = 200_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

#: Declared type -> (the JSON types a value may have, how an error names it).
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "number": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"),
}
VARIABLE_TYPES = tuple(_TYPES)

_ENVIRONMENT = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class VariableSpec:
    """One declared variable of a template version."""

    name: str
    type: str
    required: bool = True
    #: Used when the value is not given; None means none (an optional variable without one renders as None).
    default: Any = None
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
        }


class RenderableTemplate(Protocol):
    """A saved version (`models.PromptTemplate`) or the gateway's cached copy of one (`PinnedPrompt`)."""

    template: str
    variables: Any


@dataclass(frozen=True)
class PinnedPrompt:
    """What the gateway needs of a use case's pinned version, small and picklable for its caches."""

    template_id: int
    label: str
    template: str
    variables: tuple[VariableSpec, ...]
    #: False once the owning LOB revoked the grant it was pinned through: the gateway then refuses calls.
    readable: bool = True


class PromptVariableError(ValueError):
    """A value given for rendering does not fit the declaration (or the template failed on it)."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.variable = variable


# ---- checking a template at save ----


def template_check(template: str, variables: Any) -> tuple[VariableSpec, ...]:
    """The normalized declaration of `variables` for `template`, or ValidationError listing every problem:
    a syntax error, a malformed declaration, a variable used but not declared or declared but not used."""
    if not isinstance(template, str) or not template.strip():
        raise ValidationError("The template is empty.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValidationError(f"The template is longer than {MAX_TEMPLATE_CHARS} characters.")
    try:
        used = meta.find_undeclared_variables(_ENVIRONMENT.parse(template))
    except jinja2.TemplateSyntaxError as error:
        raise ValidationError(f"Template syntax error on line {error.lineno}: {error.message}.") from None
    specs, problems = _declaration(variables)
    declared = {spec.name for spec in specs}
    for name in sorted(used - declared):
        problems.append(f"The template uses the variable '{name}', which is not declared.")
    for name in sorted(declared - used):
        problems.append(f"The variable '{name}' is declared but the template does not use it.")
    if problems:
        raise ValidationError(problems)
    return specs


def _declaration(variables: Any) -> tuple[tuple[VariableSpec, ...], list[str]]:
    if variables is None:
        variables = []
    if not isinstance(variables, list):
        return (), ["Variables must be a list of {name, type, required, default, description} objects."]
    if len(variables) > MAX_VARIABLES:
        return (), [f"At most {MAX_VARIABLES} variables may be declared."]
    specs: list[VariableSpec] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, entry in enumerate(variables, 1):
        try:
            spec = _variable(entry, position)
        except _Refused as refused:
            problems.append(str(refused))
            continue
        if spec.name in seen:
            problems.append(f"The variable '{spec.name}' is declared twice.")
        else:
            seen.add(spec.name)
            specs.append(spec)
    return tuple(specs), problems


class _Refused(ValueError):
    pass


def _variable(entry: Any, position: int) -> VariableSpec:
    if not isinstance(entry, dict):
        raise _Refused(f"Variable {position} must be an object with a name and a type.")
    name = entry.get("name")
    label = f"'{name}'" if isinstance(name, str) and name else str(position)
    unknown = set(entry) - {"name", "type", "required", "default", "description"}
    if unknown:
        raise _Refused(f"Variable {label} has unknown fields: {', '.join(sorted(unknown))}.")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _Refused(f"Variable {label} needs a name of letters, digits and underscores, not starting with a digit.")
    if name in _ENVIRONMENT.globals:
        raise _Refused(f"Variable '{name}' has the name of a template function; choose another.")
    kind = entry.get("type")
    if kind not in _TYPES:
        raise _Refused(f"Variable '{name}' has type {kind!r}; use one of: {', '.join(VARIABLE_TYPES)}.")
    default = entry.get("default")
    required = entry.get("required", default is None)
    if not isinstance(required, bool):
        raise _Refused(f"Variable '{name}': required must be true or false.")
    if default is not None:
        if required:
            raise _Refused(f"Variable '{name}' is required, so it takes no default.")
        if not _fits(default, kind):
            raise _Refused(f"Variable '{name}' has a default that is not {_TYPES[kind][1]}.")
    description = entry.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise _Refused(f"Variable '{name}': the description must be at most {MAX_DESCRIPTION_CHARS} characters.")
    return VariableSpec(name=name, type=kind, required=required, default=default, description=description)


def _fits(value: Any, kind: str) -> bool:
    # bool is an int in Python, but a JSON true is no integer.
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _TYPES[kind][0])


# ---- rendering ----


def variable_specs(variables: Iterable[VariableSpec | Mapping[str, Any]]) -> tuple[VariableSpec, ...]:
    """The declaration of a saved version (stored normalized by `template_check`)."""
    return tuple(v if isinstance(v, VariableSpec) else VariableSpec(**v) for v in variables or ())


def prompt_render(*, template_version: RenderableTemplate, variables: Mapping[str, Any] | None) -> str:
    """The text of `template_version` with `variables`, or PromptVariableError naming the variable
    that is missing, unknown or of the wrong type (or the template's own failure on the values)."""
    specs = variable_specs(template_version.variables)
    values = variables_check(specs, variables)
    try:
        compiled = _compiled(template_version.template)
        rendered: list[str] = []
        size = 0
        for chunk in compiled.generate(**values):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise PromptVariableError(f"The rendered prompt is longer than {MAX_RENDERED_CHARS} characters.")
            rendered.append(chunk)
    except PromptVariableError:
        raise
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise PromptVariableError(
            f"The template could not be rendered with these variables: {str(error).rstrip('.')}."
        ) from None
    return "".join(rendered)


def variables_check(specs: tuple[VariableSpec, ...], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values to render with (defaults filled in), or PromptVariableError for the first problem."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise PromptVariableError("Prompt variables must be a JSON object of names to values.")
    declared = {spec.name: spec for spec in specs}
    for name in sorted(given):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PromptVariableError(
                f"Unknown prompt variable '{name}'; the template declares: {known}.", variable=name
            )
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in given or given[spec.name] is None:
            if spec.required:
                raise PromptVariableError(f"Missing required prompt variable '{spec.name}'.", variable=spec.name)
            values[spec.name] = spec.default
            continue
        value = given[spec.name]
        if not _fits(value, spec.type):
            raise PromptVariableError(
                f"Prompt variable '{spec.name}' must be {_TYPES[spec.type][1]}, not {_json_type(value)}.",
                variable=spec.name,
            )
        values[spec.name] = value
    return values


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# Versions never change, so a compiled template is valid for as long as its source text: the
# gateway compiles each pinned version once per process (bounded, keyed by content, no invalidation).
@functools.lru_cache(maxsize=512)
def _compiled(template: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(template)
