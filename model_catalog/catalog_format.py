"""The catalog as a YAML document (format version 1): parsing that locates every problem, and rendering.

The format is the contract between the catalog in git and the catalog in the database, so it is
strict: unknown keys, duplicate keys and duplicate names are errors, enum values must be the model's
choices, provider ids the registry's, and every field passes the model's own validators. Rendering is
canonical (objects sorted by name, free-form mappings by key), so a rendered document parses back to
the same catalog and renders to the same bytes.

Nothing here touches the database; `catalog_yaml` resolves names and writes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from genai_platform.providers.registry import PROVIDERS

from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route, validate_credentials_reference

FORMAT_VERSION = 1
DOCUMENT = "document"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, at its YAML path (`deployments[3].account`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Invalid(Exception):
    """A value a parser refuses; `at` locates it below the field (a credential or option key)."""

    def __init__(self, message: str, *, at: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at


# Parsers turn a loaded YAML value into the model's value or raise _Invalid. They never echo a
# value whose type is wrong: it could be a secret pasted into the wrong place.


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_type_name(value)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_type_name(value)}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected a whole number, got {_type_name(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(f"expected a number, got {_type_name(value)}")
    return float(value)


def _price(value: Any) -> Decimal:
    if isinstance(value, float):
        raise _Invalid("write prices as quoted strings (e.g. '2.50') so no precision is lost to floating point")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(f"expected a decimal string such as '2.50', got {_type_name(value)}")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid(f"expected a decimal string such as '2.50', got {value!r}") from None
    if not price.is_finite():
        raise _Invalid(f"expected a decimal string such as '2.50', got {value!r}")
    return price


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        raise _Invalid("expected a date (YYYY-MM-DD), not a timestamp")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Invalid(f"expected a date (YYYY-MM-DD) or null, got {_type_name(value)}")


def _json_value(value: Any, at: str) -> None:
    """Refuses what a JSON column cannot hold faithfully (dates, NaN, non-string keys)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("expected a finite number", at=at)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _json_value(item, f"{at}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(f"keys must be strings, got {_type_name(key)}", at=at)
            _json_value(item, f"{at}.{key}")
        return
    raise _Invalid(f"expected a string, number, boolean, null, list or mapping, got {_type_name(value)}", at=at)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a mapping, got {_type_name(value)}")
    _json_value(value, "")
    return value


def _credentials(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a mapping of credential field -> 'env:NAME' or 'file:PATH', got {_type_name(value)}")
    for field_name, where in value.items():
        if not isinstance(field_name, str):
            raise _Invalid(f"credential fields must be strings, got {_type_name(field_name)}")
        try:
            validate_credentials_reference({field_name: where})
        except ValidationError as error:
            raise _Invalid(" ".join(error.messages), at=f".{field_name}") from None
    return value


def _choice(choices: type[models.TextChoices]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices.values:
            shown = repr(value) if isinstance(value, str) else _type_name(value)
            raise _Invalid(f"unknown value {shown}; expected one of: {', '.join(choices.values)}")
        return value

    return parse


def _provider(value: Any) -> str:
    if value not in PROVIDERS:
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        raise _Invalid(f"unknown provider {shown}; expected one of: {', '.join(PROVIDERS)}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"expected a name, got {_type_name(value)}")
    return value


def _optional_name(value: Any) -> str | None:
    return None if value is None else _name(value)


# Renderers turn a model value into its canonical YAML value.


def _same(value: Any) -> Any:
    return value


def _price_text(value: Decimal) -> str:
    """'3.00', '0.075', '0.000125': the stored value, without trailing zeros beyond the cents."""
    whole, _, fraction = f"{Decimal(value).quantize(Decimal('0.000001')):f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _sorted_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(item) for item in value]
    return value


@dataclass(frozen=True)
class Field:
    """One YAML key of an object and the model attribute it sets."""

    key: str  # dotted within the object: "prices.input_per_million"
    attr: str
    parse: Callable[[Any], Any]
    render: Callable[[Any], Any] = _same
    required: bool = False
    references: str = ""  # the kind this field names, resolved by name on import


@dataclass(frozen=True)
class Kind:
    name: str
    section: str
    model: type[models.Model]
    fields: tuple[Field, ...]

    def default(self, attr: str) -> Any:
        return self.model._meta.get_field(attr).get_default()


ACCOUNT = Kind(
    "account",
    "accounts",
    ProviderAccount,
    (
        Field("name", "name", _name, required=True),
        Field("provider", "provider", _provider, required=True),
        Field("region", "region", _text),
        Field("endpoint", "endpoint", _text),
        Field("credentials_ref", "credentials_ref", _credentials, _sorted_json),
        Field("options", "options", _mapping, _sorted_json),
        Field("timeout_seconds", "timeout_seconds", _number, float),
    ),
)
MODEL = Kind(
    "model",
    "models",
    CatalogModel,
    (
        Field("name", "name", _name, required=True),
        Field("capabilities.chat", "supports_chat", _boolean),
        Field("capabilities.embeddings", "supports_embeddings", _boolean),
        Field("capabilities.tools", "supports_tools", _boolean),
        Field("capabilities.vision", "supports_vision", _boolean),
        Field("capabilities.streaming", "supports_streaming", _boolean),
        Field("limits.context_window", "context_window", _integer),
        Field("limits.max_output_tokens", "max_output_tokens", _integer),
    ),
)
DEPLOYMENT = Kind(
    "deployment",
    "deployments",
    Deployment,
    (
        Field("name", "name", _name, required=True),
        Field("account", "account", _name, required=True, references="account"),
        Field("model", "model", _name, required=True, references="model"),
        Field("provider_model_id", "provider_model_id", _text, required=True),
        Field("prices.input_per_million", "input_price_per_million", _price, _price_text),
        Field("prices.output_per_million", "output_price_per_million", _price, _price_text),
        Field("lifecycle", "lifecycle", _choice(Deployment.Lifecycle)),
        Field("deprecated_on", "deprecated_on", _date),
        Field("retires_on", "retires_on", _date),
        Field("replacement", "replacement", _optional_name, references="deployment"),
        Field("options", "options", _mapping, _sorted_json),
    ),
)
ALIAS = Kind(
    "alias",
    "aliases",
    Alias,
    (
        Field("name", "name", _name, required=True),
        Field("description", "description", _text),
        Field("strategy", "strategy", _choice(Alias.Strategy)),
        Field("is_active", "is_active", _boolean),
        Field("available_in_sandbox", "available_in_sandbox", _boolean),
    ),
)
ROUTE = Kind(
    "route",
    "routes",
    Route,
    (
        Field("deployment", "deployment", _name, required=True, references="deployment"),
        Field("priority", "priority", _integer),
        Field("weight", "weight", _integer),
    ),
)
#: The document's sections, in the order they are written and applied (each names only earlier ones).
KINDS: tuple[Kind, ...] = (ACCOUNT, MODEL, DEPLOYMENT, ALIAS)
ROUTES_KEY = "routes"


@dataclass(frozen=True)
class ObjectSpec:
    """One object as the document states it: model attribute -> value, references as names."""

    kind: str
    path: str = field(compare=False)
    values: Mapping[str, Any]
    routes: tuple[ObjectSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.values["name"]


@dataclass(frozen=True)
class CatalogSpec:
    """The whole catalog as a document states it, section by section."""

    sections: Mapping[str, tuple[ObjectSpec, ...]]

    def of(self, kind: Kind) -> tuple[ObjectSpec, ...]:
        return self.sections.get(kind.name, ())

    def names(self, kind_name: str) -> set[str]:
        return {spec.name for spec in self.sections.get(kind_name, ())}


# Parsing


class _StrictLoader(yaml.SafeLoader):
    """Safe loading that refuses a key written twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                identity = (key_node.tag, key_node.value)
                if identity in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(identity)
        return super().construct_mapping(node, deep=deep)


def _unknown_keys(raw: Mapping[Any, Any], allowed: list[str], path: str) -> list[Problem]:
    problems = []
    for key in raw:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
        problems.append(Problem(f"{path}.{key}", f"unknown key ({hint})"))
    return problems


def _parse_object(kind: Kind, raw: Any, path: str, problems: list[Problem]) -> dict[str, Any] | None:
    """The object's values; problems are appended. None when it has no usable name."""
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"expected a mapping, got {_type_name(raw)}"))
        return None
    top_keys = list(dict.fromkeys(f.key.split(".")[0] for f in kind.fields))
    if kind is ALIAS:
        top_keys.append(ROUTES_KEY)
    problems.extend(_unknown_keys(raw, top_keys, path))
    groups: dict[str, dict[Any, Any]] = {}
    for group in dict.fromkeys(f.key.split(".")[0] for f in kind.fields if "." in f.key):
        container = raw.get(group, {})
        if isinstance(container, dict):
            groups[group] = container
            leaves = [f.key.split(".", 1)[1] for f in kind.fields if f.key.startswith(f"{group}.")]
            problems.extend(_unknown_keys(container, leaves, f"{path}.{group}"))
        else:
            problems.append(Problem(f"{path}.{group}", f"expected a mapping, got {_type_name(container)}"))

    values: dict[str, Any] = {}
    failed: set[str] = set()
    for spec_field in kind.fields:
        group, _, leaf = spec_field.key.rpartition(".")
        container = groups.get(group) if group else raw
        if container is None:
            failed.add(spec_field.attr)
            continue
        if leaf not in container:
            if spec_field.required:
                problems.append(Problem(path, f"missing required key {spec_field.key!r}"))
                failed.add(spec_field.attr)
            else:
                values[spec_field.attr] = kind.default(spec_field.attr)
            continue
        try:
            values[spec_field.attr] = spec_field.parse(container[leaf])
        except _Invalid as invalid:
            problems.append(Problem(f"{path}.{spec_field.key}{invalid.at}", invalid.message))
            failed.add(spec_field.attr)
    problems.extend(_model_problems(kind, values, failed, path))
    if kind is not ROUTE and not isinstance(values.get("name"), str):
        return None
    return values


def _model_problems(kind: Kind, values: dict[str, Any], failed: set[str], path: str) -> list[Problem]:
    """The model's own validators (lengths, slugs, minimums, decimal places, `clean`), at YAML paths."""
    references = {f.attr for f in kind.fields if f.references}
    instance = kind.model(**{attr: value for attr, value in values.items() if attr not in references})
    exclude = references | failed | ({"alias"} if kind is ROUTE else set())
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        key_of = {f.attr: f.key for f in kind.fields}
        return [
            Problem(path if attr == NON_FIELD_ERRORS or attr not in key_of else f"{path}.{key_of[attr]}", message)
            for attr, messages in error.message_dict.items()
            for message in messages
        ]
    return []


def _parse_routes(raw: Any, path: str, problems: list[Problem]) -> tuple[ObjectSpec, ...]:
    if raw is None or not isinstance(raw, list):
        problems.append(Problem(path, f"expected a list of routes (use [] for none), got {_type_name(raw)}"))
        return ()
    routes: list[ObjectSpec] = []
    first_at: dict[str, str] = {}
    for index, raw_route in enumerate(raw):
        route_path = f"{path}[{index}]"
        values = _parse_object(ROUTE, raw_route, route_path, problems)
        deployment = (values or {}).get("deployment")
        if values is None or deployment is None:
            continue
        if deployment in first_at:
            problems.append(
                Problem(
                    f"{route_path}.deployment", f"deployment {deployment!r} is already routed at {first_at[deployment]}"
                )
            )
            continue
        first_at[deployment] = route_path
        routes.append(ObjectSpec(ROUTE.name, route_path, values))
    return tuple(routes)


def _parse_section(kind: Kind, raw: Any, problems: list[Problem]) -> tuple[ObjectSpec, ...]:
    if not isinstance(raw, list):
        problems.append(Problem(kind.section, f"expected a list (use [] for none), got {_type_name(raw)}"))
        return ()
    specs: list[ObjectSpec] = []
    first_at: dict[str, str] = {}
    for index, raw_object in enumerate(raw):
        path = f"{kind.section}[{index}]"
        values = _parse_object(kind, raw_object, path, problems)
        if values is None:
            continue
        routes: tuple[ObjectSpec, ...] = ()
        if kind is ALIAS:
            routes = _parse_routes(raw_object.get(ROUTES_KEY, []), f"{path}.{ROUTES_KEY}", problems)
        name = values["name"]
        if name in first_at:
            problems.append(Problem(f"{path}.name", f"duplicate {kind.name} {name!r} (first at {first_at[name]})"))
            continue
        first_at[name] = path
        if kind is DEPLOYMENT and values.get("replacement") == name:
            problems.append(Problem(f"{path}.replacement", "a deployment cannot replace itself"))
        specs.append(ObjectSpec(kind.name, path, values, routes))
    return tuple(specs)


def document_parse(text: str) -> tuple[CatalogSpec, list[Problem]]:
    """The catalog a document states, and every problem found in it (the spec is usable only without any)."""
    problems: list[Problem] = []
    empty = CatalogSpec(sections={})
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else DOCUMENT
        return empty, [Problem(where, f"not valid YAML: {getattr(error, 'problem', None) or error}")]
    if not isinstance(raw, dict):
        return empty, [Problem(DOCUMENT, f"expected a mapping with 'version: {FORMAT_VERSION}', got {_type_name(raw)}")]
    problems.extend(_unknown_keys(raw, ["version", *(kind.section for kind in KINDS)], DOCUMENT))
    if "version" not in raw:
        problems.append(Problem(DOCUMENT, f"missing required key 'version' (write 'version: {FORMAT_VERSION}')"))
    elif raw["version"] != FORMAT_VERSION or isinstance(raw["version"], bool):
        problems.append(Problem("version", f"unsupported version {raw['version']!r}; expected {FORMAT_VERSION}"))
    sections: dict[str, tuple[ObjectSpec, ...]] = {}
    for kind in KINDS:
        if kind.section not in raw:
            problems.append(Problem(DOCUMENT, f"missing required key {kind.section!r} (write '{kind.section}: []')"))
            continue
        sections[kind.name] = _parse_section(kind, raw[kind.section], problems)
    return CatalogSpec(sections=sections), problems


# Rendering


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, which reads better in review than PyYAML's flush-left default."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A string with line breaks reads best as one double-quoted line ("a\nb") rather than folded.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\n" in value else None)


_Dumper.add_representer(str, _represent_text)


def _render_object(kind: Kind, spec: ObjectSpec) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for spec_field in kind.fields:
        value = spec_field.render(spec.values[spec_field.attr])
        group, _, leaf = spec_field.key.rpartition(".")
        (rendered.setdefault(group, {}) if group else rendered)[leaf] = value
    if kind is ALIAS:
        ordered = sorted(spec.routes, key=lambda route: (route.values["priority"], route.values["deployment"]))
        rendered[ROUTES_KEY] = [_render_object(ROUTE, route) for route in ordered]
    return rendered


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def document_render(spec: CatalogSpec) -> str:
    """The canonical document: sections in a fixed order, objects by name, routes by priority."""
    parts = [_dump({"version": FORMAT_VERSION})]
    for kind in KINDS:
        objects = sorted(spec.of(kind), key=lambda item: item.name)
        parts.append(_dump({kind.section: [_render_object(kind, item) for item in objects]}))
    return "\n".join(parts)
