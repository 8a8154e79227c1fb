"""The catalog kept in git: export it as one YAML document, import one back.

`catalog_import` is all-or-nothing: it validates the whole document first and reports every
problem with its YAML path; only a document without problems is applied, in one transaction,
with one audit event and one invalidation of the gateway's cached catalog. It compares before it
writes, so importing the same document twice changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from genai_platform.audit.services import audit_record

from . import services
from .catalog_format import (
    ACCOUNT,
    ALIAS,
    DEPLOYMENT,
    KINDS,
    MODEL,
    ROUTE,
    CatalogSpec,
    Kind,
    ObjectSpec,
    Problem,
    document_parse,
    document_render,
)
from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from .selectors import catalog_invalidate

CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"
ACTIONS = (CREATED, UPDATED, UNCHANGED, DELETED)
#: Every kind an import reports on, in the order it applies them.
REPORTED_KINDS: tuple[Kind, ...] = (*KINDS, ROUTE)


class CatalogImportError(Exception):
    """The document was refused and nothing changed; `problems` lists every reason, each at its YAML path."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class Change:
    """One object an import creates, updates or deletes; `fields` are the YAML keys that differ."""

    kind: str
    name: str
    action: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReport:
    """What an import did, or with `dry_run` what it would do."""

    dry_run: bool
    prune: bool
    changes: tuple[Change, ...]
    unchanged: Mapping[str, int]
    #: Objects absent from the document that stay because the import did not prune: kind -> names.
    kept: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per kind (plural, as in the document): how many were created, updated, unchanged and deleted."""
        counts = Counter((change.kind, change.action) for change in self.changes)
        return {
            kind.section: {
                action: self.unchanged.get(kind.name, 0) if action == UNCHANGED else counts[kind.name, action]
                for action in ACTIONS
            }
            for kind in REPORTED_KINDS
        }


def catalog_export() -> str:
    """The whole catalog as one canonical YAML document (see docs/catalog.md)."""
    return document_render(_spec_of(_Catalog.load()))


@transaction.atomic
def catalog_import(*, document: str, prune: bool = False, dry_run: bool = False, actor: str = "system") -> ImportReport:
    """Makes the catalog match `document`, or raises CatalogImportError and changes nothing.

    References are resolved by name, against the document and, without `prune`, against the catalog
    as it stands. Objects absent from the document are kept, or deleted with `prune`; an alias in the
    document always ends with exactly the routes the document lists. `dry_run` validates and reports
    without writing anything.
    """
    spec, problems = document_parse(document)
    current = _Catalog.load()
    problems.extend(_reference_problems(spec, current, prune=prune))
    if problems:
        raise CatalogImportError(problems)
    plan = _plan(spec, current, prune=prune)
    report = ImportReport(
        dry_run=dry_run, prune=prune, changes=tuple(plan.changes), unchanged=dict(plan.unchanged), kept=plan.kept
    )
    if dry_run or not report.changed:
        return report
    _apply(plan, current, actor=actor)
    audit_record(
        actor=actor,
        action="catalog.imported",
        # An import changes many rows, none of them the subject: the event names the document by its digest.
        object_type="model_catalog.catalog",
        object_id=hashlib.sha256(document.encode()).hexdigest(),
        after={
            "summary": report.summary(),
            "prune": prune,
            "changes": [dataclasses.asdict(change) for change in report.changes],
        },
    )
    transaction.on_commit(catalog_invalidate)
    return report


# The catalog as it stands


@dataclass
class _Catalog:
    objects: dict[str, dict[str, models.Model]]  # kind -> name -> instance
    routes: dict[str, dict[str, Route]]  # alias name -> deployment name -> route

    @classmethod
    def load(cls) -> _Catalog:
        routes: dict[str, dict[str, Route]] = {}
        for route in Route.objects.select_related("alias", "deployment"):
            routes.setdefault(route.alias.name, {})[route.deployment.name] = route
        return cls(
            objects={
                ACCOUNT.name: {a.name: a for a in ProviderAccount.objects.all()},
                MODEL.name: {m.name: m for m in CatalogModel.objects.all()},
                DEPLOYMENT.name: {
                    d.name: d for d in Deployment.objects.select_related("account", "model", "replacement")
                },
                ALIAS.name: {a.name: a for a in Alias.objects.all()},
            },
            routes=routes,
        )

    def names(self, kind_name: str) -> set[str]:
        return set(self.objects[kind_name])


def _values_of(kind: Kind, instance: models.Model) -> dict[str, Any]:
    """An instance as the document would state it: model attribute -> value, references as names."""
    values = {}
    for spec_field in kind.fields:
        value = getattr(instance, spec_field.attr)
        values[spec_field.attr] = value.name if spec_field.references and value is not None else value
    return values


def _spec_of(current: _Catalog) -> CatalogSpec:
    sections = {}
    for kind in KINDS:
        specs = []
        for name, instance in current.objects[kind.name].items():
            routes = tuple(
                ObjectSpec(ROUTE.name, "", _values_of(ROUTE, route)) for route in current.routes.get(name, {}).values()
            )
            specs.append(ObjectSpec(kind.name, "", _values_of(kind, instance), routes if kind is ALIAS else ()))
        sections[kind.name] = tuple(specs)
    return CatalogSpec(sections=sections)


# Validation that needs the catalog as it stands


def _reference_problems(spec: CatalogSpec, current: _Catalog, *, prune: bool) -> list[Problem]:
    in_file = {kind.name: spec.names(kind.name) for kind in KINDS}
    in_catalog = {kind.name: current.names(kind.name) for kind in KINDS}
    problems = []
    for kind in KINDS:
        for obj in spec.of(kind):
            for checked_kind, checked in ((kind, obj), *((ROUTE, route) for route in obj.routes)):
                for spec_field in checked_kind.fields:
                    name = checked.values.get(spec_field.attr)
                    target = spec_field.references
                    if not target or name is None or name in in_file[target]:
                        continue
                    path = f"{checked.path}.{spec_field.key}"
                    if name not in in_catalog[target]:
                        problems.append(Problem(path, f"unknown {target} {name!r}"))
                    elif prune:
                        problems.append(Problem(path, _prune_refusal(checked_kind, target, name, owner=obj)))
    return problems


def _prune_refusal(kind: Kind, target: str, name: str, *, owner: ObjectSpec) -> str:
    if kind is ROUTE:
        return (
            f"refusing to prune deployment {name!r}: alias {owner.name!r}, kept in the file, still routes to it "
            "(add the deployment to the file or remove the route)"
        )
    return (
        f"refusing to prune {target} {name!r}: {kind.name} {owner.name!r}, kept in the file, still references it "
        f"(add the {target} to the file or stop referencing it)"
    )


# Planning: what differs, decided before anything is written


@dataclass
class _Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: Counter[str] = field(default_factory=Counter)
    kept: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: kind -> specs of the objects to create or update
    writes: dict[str, list[ObjectSpec]] = field(default_factory=dict)
    #: kind -> instances to delete, in the order they are deleted
    deletes: dict[str, list[models.Model]] = field(default_factory=dict)
    route_writes: list[tuple[str, ObjectSpec]] = field(default_factory=list)
    route_deletes: list[Route] = field(default_factory=list)
    #: alias name -> every route the document gives it, for the aliases whose routes change
    alias_routes: dict[str, tuple[ObjectSpec, ...]] = field(default_factory=dict)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        # JSON equality that tells 1, 1.0 and true apart, which Python's == does not.
        return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
    return left == right


def _differing_keys(kind: Kind, wanted: Mapping[str, Any], have: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f.key for f in kind.fields if not _same(wanted[f.attr], have[f.attr]))


def _route_name(alias: str, deployment: str) -> str:
    return f"{alias} -> {deployment}"


def _plan(spec: CatalogSpec, current: _Catalog, *, prune: bool) -> _Plan:
    plan = _Plan()
    for kind in KINDS:
        existing = current.objects[kind.name]
        plan.writes[kind.name] = []
        for obj in spec.of(kind):
            instance = existing.get(obj.name)
            differing = _differing_keys(kind, obj.values, _values_of(kind, instance)) if instance else ()
            if instance is None or differing:
                plan.writes[kind.name].append(obj)
                plan.changes.append(Change(kind.name, obj.name, UPDATED if instance else CREATED, differing))
            else:
                plan.unchanged[kind.name] += 1
            if kind is ALIAS:
                _plan_routes(plan, obj, current.routes.get(obj.name, {}))
        absent = sorted(set(existing) - spec.names(kind.name))
        if absent and not prune:
            plan.kept[kind.name] = tuple(absent)
    if prune:
        # Routes go with their alias; then each kind before the kinds it references.
        for kind in (ALIAS, DEPLOYMENT, MODEL, ACCOUNT):
            absent = sorted(set(current.objects[kind.name]) - spec.names(kind.name))
            plan.deletes[kind.name] = [current.objects[kind.name][name] for name in absent]
            if kind is ALIAS:
                plan.changes.extend(
                    Change(ROUTE.name, _route_name(name, deployment), DELETED)
                    for name in absent
                    for deployment in sorted(current.routes.get(name, {}))
                )
            plan.changes.extend(Change(kind.name, name, DELETED) for name in absent)
    return plan


def _plan_routes(plan: _Plan, alias: ObjectSpec, existing: Mapping[str, Route]) -> None:
    wanted = {route.values["deployment"]: route for route in alias.routes}
    for deployment, route in wanted.items():
        instance = existing.get(deployment)
        differing = _differing_keys(ROUTE, route.values, _values_of(ROUTE, instance)) if instance else ()
        if instance is None or differing:
            plan.route_writes.append((alias.name, route))
            plan.changes.append(
                Change(ROUTE.name, _route_name(alias.name, deployment), UPDATED if instance else CREATED, differing)
            )
        else:
            plan.unchanged[ROUTE.name] += 1
    for deployment in sorted(set(existing) - set(wanted)):
        plan.route_deletes.append(existing[deployment])
        plan.changes.append(Change(ROUTE.name, _route_name(alias.name, deployment), DELETED))
    plan.alias_routes[alias.name] = tuple(alias.routes)


# Applying a plan


def _assign(kind: Kind, instance: models.Model, values: Mapping[str, Any], by_name: Mapping[str, dict]) -> None:
    for spec_field in kind.fields:
        if spec_field.references == DEPLOYMENT.name and kind is DEPLOYMENT:
            continue  # the replacement is set once every deployment exists
        value = values[spec_field.attr]
        if spec_field.references:
            value = by_name[spec_field.references][value]
        setattr(instance, spec_field.attr, value)


#: The service that saves each kind: the import writes through the same services as the portal and
#: the API, telling them it records the whole import as one audit event itself.
_SAVE = {
    ACCOUNT.name: lambda instance, actor: services.provider_account_save(
        account=instance, actor=actor, audited_by_caller=True
    ),
    MODEL.name: lambda instance, actor: services.catalog_model_save(
        model=instance, actor=actor, audited_by_caller=True
    ),
    DEPLOYMENT.name: lambda instance, actor: services.deployment_save(
        deployment=instance, actor=actor, audited_by_caller=True
    ),
    ALIAS.name: lambda instance, actor: services.alias_save(alias=instance, actor=actor, audited_by_caller=True),
}


def _apply(plan: _Plan, current: _Catalog, *, actor: str) -> None:
    by_name = {kind.name: dict(current.objects[kind.name]) for kind in KINDS}
    for kind in KINDS:
        for obj in plan.writes[kind.name]:
            instance = by_name[kind.name].get(obj.name) or kind.model()
            _assign(kind, instance, obj.values, by_name)
            _SAVE[kind.name](instance, actor)
            by_name[kind.name][obj.name] = instance
        if kind is DEPLOYMENT:
            for obj in plan.writes[kind.name]:
                deployment = by_name[kind.name][obj.name]
                replacement = obj.values["replacement"]
                deployment.replacement = by_name[kind.name][replacement] if replacement else None
                _SAVE[kind.name](deployment, actor)
    changed_aliases = {alias_name for alias_name, _ in plan.route_writes}
    changed_aliases |= {route.alias.name for route in plan.route_deletes}
    for alias_name in sorted(changed_aliases):
        alias = by_name[ALIAS.name][alias_name]
        routes = [
            services.RouteSpec(
                deployment=by_name[DEPLOYMENT.name][spec.values["deployment"]],
                priority=spec.values["priority"],
                weight=spec.values["weight"],
            )
            for spec in plan.alias_routes[alias_name]
        ]
        services.alias_routes_set(alias=alias, routes=routes, actor=actor, audited_by_caller=True)
    for kind_name, instances in plan.deletes.items():
        for instance in instances:
            try:
                services.catalog_entry_delete(instance=instance, actor=actor, audited_by_caller=True)
            except services.CatalogEntryInUse as error:
                users = ", ".join(error.users)
                raise CatalogImportError(
                    [Problem("--prune", f"cannot delete {kind_name} {instance}: still used by {users}")]
                ) from None
