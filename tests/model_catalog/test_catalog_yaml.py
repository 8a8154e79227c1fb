"""The catalog as YAML: export, and an import that is validated, all-or-nothing and idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from genai_platform.audit.models import AuditEvent
from model_catalog.catalog_yaml import CatalogImportError, catalog_export, catalog_import
from model_catalog.models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from model_catalog.selectors import alias_routes
from tests.factories import AliasFactory, DeploymentFactory

from .catalogs import catalog_clear, database_state, edited, entry, varied_catalog

pytestmark = pytest.mark.django_db


def problems_of(document: str, **options) -> list[str]:
    with pytest.raises(CatalogImportError) as refused:
        catalog_import(document=document, **options)
    return [str(problem) for problem in refused.value.problems]


# Export


def test_export_starts_with_the_format_version_and_lists_every_kind_sorted_by_name():
    varied_catalog()

    data = yaml.safe_load(catalog_export())

    assert list(data) == ["version", "accounts", "models", "deployments", "aliases"]
    assert data["version"] == 1
    assert [a["name"] for a in data["accounts"]] == ["aws-east", "azure-eu"]
    assert [d["name"] for d in data["deployments"]] == ["claude-sonnet-east-v1", "claude-sonnet-east-v2", "gpt-4o-eu"]
    assert [a["name"] for a in data["aliases"]] == ["chat", "chat-internal"]


def test_export_writes_prices_as_strings_that_keep_every_decimal_place():
    varied_catalog()

    deployment = entry(yaml.safe_load(catalog_export()), "deployments", "claude-sonnet-east-v1")

    assert deployment["prices"] == {"input_per_million": "0.000125", "output_per_million": "123456.123456"}


def test_export_names_references_and_lists_routes_by_priority():
    varied_catalog()
    data = yaml.safe_load(catalog_export())

    assert entry(data, "deployments", "claude-sonnet-east-v1")["replacement"] == "claude-sonnet-east-v2"
    assert entry(data, "aliases", "chat")["routes"] == [
        {"deployment": "claude-sonnet-east-v2", "priority": 1, "weight": 1},
        {"deployment": "gpt-4o-eu", "priority": 2, "weight": 3},
    ]


def test_export_then_import_into_an_empty_catalog_then_export_is_byte_identical():
    varied_catalog()
    exported = catalog_export()
    catalog_clear()

    catalog_import(document=exported)

    assert catalog_export() == exported


# Import


def test_import_creates_the_catalog_the_document_describes():
    varied_catalog()
    document = catalog_export()
    catalog_clear()

    catalog_import(document=document)

    old = Deployment.objects.get(name="claude-sonnet-east-v1")
    assert old.account.provider == "bedrock"
    assert old.model.name == "claude-sonnet"
    assert old.input_price_per_million == Decimal("0.000125")
    assert old.retires_on == dt.date(2025, 9, 30)
    assert old.replacement.name == "claude-sonnet-east-v2"
    assert ProviderAccount.objects.get(name="azure-eu").credentials_ref == {"api_key": "env:AZURE_OPENAI_API_KEY"}
    assert Route.objects.get(alias__name="chat", deployment__name="gpt-4o-eu").weight == 3


def test_importing_the_same_document_twice_changes_nothing_the_second_time():
    varied_catalog()
    document = catalog_export()
    before = database_state()

    report = catalog_import(document=document)

    assert not report.changed
    assert database_state() == before
    assert report.summary()["deployments"] == {"created": 0, "updated": 0, "unchanged": 3, "deleted": 0}
    assert report.summary()["routes"] == {"created": 0, "updated": 0, "unchanged": 3, "deleted": 0}


def test_an_import_reports_what_it_created_updated_and_left_unchanged_per_kind():
    varied_catalog()

    def edit(data):
        entry(data, "deployments", "gpt-4o-eu")["prices"]["input_per_million"] = "2.50"
        data["models"].append({"name": "embedder", "capabilities": {"chat": False, "embeddings": True}})

    report = catalog_import(document=edited(catalog_export(), edit))

    assert report.summary()["models"] == {"created": 1, "updated": 0, "unchanged": 2, "deleted": 0}
    assert report.summary()["deployments"] == {"created": 0, "updated": 1, "unchanged": 2, "deleted": 0}
    assert [(c.kind, c.name, c.action, c.fields) for c in report.changes] == [
        ("model", "embedder", "created", ()),
        ("deployment", "gpt-4o-eu", "updated", ("prices.input_per_million",)),
    ]
    assert Deployment.objects.get(name="gpt-4o-eu").input_price_per_million == Decimal("2.50")


def test_keys_left_out_of_an_object_take_the_model_defaults():
    document = edited(
        "version: 1\naccounts: []\nmodels: []\ndeployments: []\naliases: []\n",
        lambda data: data["accounts"].append({"name": "local", "provider": "sandbox"}),
    )

    catalog_import(document=document)

    account = ProviderAccount.objects.get(name="local")
    assert (account.region, account.credentials_ref, account.timeout_seconds) == ("", {}, 60.0)


def test_an_import_writes_one_audit_event_with_its_summary():
    varied_catalog()
    document = edited(catalog_export(), lambda data: entry(data, "aliases", "chat").update(description="Chat"))

    catalog_import(document=document, actor="ci:platform-team")

    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.object_type) == (
        "ci:platform-team",
        "catalog.imported",
        "model_catalog.catalog",
    )
    assert event.after["summary"]["aliases"] == {"created": 0, "updated": 1, "unchanged": 1, "deleted": 0}


def test_an_import_that_changes_nothing_writes_no_audit_event():
    varied_catalog()

    catalog_import(document=catalog_export())

    assert not AuditEvent.objects.exists()


def test_a_successful_import_invalidates_the_gateways_cached_catalog_on_commit(django_capture_on_commit_callbacks):
    varied_catalog()
    assert alias_routes("chat").strategy != "lowest_cost"  # now cached, as a gateway would have it
    document = edited(catalog_export(), lambda data: entry(data, "aliases", "chat").update(strategy="lowest_cost"))

    with django_capture_on_commit_callbacks(execute=True):
        catalog_import(document=document)

    assert alias_routes("chat").strategy == "lowest_cost"


def test_routes_an_alias_in_the_document_does_not_list_are_removed_even_without_prune():
    varied_catalog()
    document = edited(catalog_export(), lambda data: entry(data, "aliases", "chat")["routes"].pop())

    catalog_import(document=document)

    assert list(Route.objects.filter(alias__name="chat").values_list("deployment__name", flat=True)) == [
        "claude-sonnet-east-v2"
    ]


def test_without_prune_objects_absent_from_the_document_are_kept_and_reported():
    varied_catalog()
    document = catalog_export()
    AliasFactory(name="made-in-admin", deployments=[DeploymentFactory(name="admin-deployment")])

    report = catalog_import(document=document)

    assert Alias.objects.filter(name="made-in-admin").exists()
    assert report.kept["alias"] == ("made-in-admin",)
    assert report.kept["deployment"] == ("admin-deployment",)


def test_without_prune_a_reference_may_name_an_object_only_in_the_database():
    varied_catalog()
    document = edited(
        "version: 1\naccounts: []\nmodels: []\ndeployments: []\naliases: []\n",
        lambda data: data["deployments"].append(
            {"name": "extra", "account": "aws-east", "model": "gpt-4o", "provider_model_id": "x"}
        ),
    )

    catalog_import(document=document)

    assert Deployment.objects.get(name="extra").account.name == "aws-east"


# Refused documents: every problem at its YAML path, nothing changed


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda data: data["deployments"][2].update(account="aws-west"),
            "deployments[2].account: unknown account 'aws-west'",
        ),
        (
            lambda data: data["deployments"][0].update(model="claude-opus"),
            "deployments[0].model: unknown model 'claude-opus'",
        ),
        (
            lambda data: data["deployments"][0].update(replacement="claude-sonnet-east-v9"),
            "deployments[0].replacement: unknown deployment 'claude-sonnet-east-v9'",
        ),
        (
            lambda data: data["aliases"][0]["routes"][1].update(deployment="gpt-5-eu"),
            "aliases[0].routes[1].deployment: unknown deployment 'gpt-5-eu'",
        ),
    ],
    ids=["deployment-account", "deployment-model", "deployment-replacement", "route-deployment"],
)
def test_a_reference_to_an_unknown_name_is_refused_at_its_path_and_changes_nothing(edit, expected):
    varied_catalog()
    document = edited(catalog_export(), edit)
    before = database_state()

    assert problems_of(document) == [expected]
    assert database_state() == before


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda data: data["deployments"][1].update(lifecycle="beta"),
            "deployments[1].lifecycle: unknown value 'beta'; expected one of: preview, ga, deprecated, retired",
        ),
        (
            lambda data: data["aliases"][0].update(strategy="round_robin"),
            "aliases[0].strategy: unknown value 'round_robin'; expected one of: "
            "priority, weighted, lowest_cost, lowest_latency",
        ),
        (
            lambda data: data["accounts"][0].update(provider="aws"),
            "accounts[0].provider: unknown provider 'aws'; expected one of: "
            "sandbox, bedrock, vertex, azure_openai, oci, openai_compatible, local",
        ),
    ],
    ids=["lifecycle", "strategy", "provider"],
)
def test_a_value_outside_the_allowed_choices_is_refused_at_its_path_and_changes_nothing(edit, expected):
    varied_catalog()
    document = edited(catalog_export(), edit)
    before = database_state()

    assert problems_of(document) == [expected]
    assert database_state() == before


def test_a_secret_in_credentials_ref_is_refused_without_being_echoed_and_changes_nothing():
    varied_catalog()
    secret = "sk-live-0123456789abcdef"
    document = edited(catalog_export(), lambda data: data["accounts"][1]["credentials_ref"].update(api_key=secret))
    before = database_state()

    problems = problems_of(document)

    assert len(problems) == 1
    assert problems[0].startswith("accounts[1].credentials_ref.api_key: credential 'api_key' must reference")
    assert secret not in problems[0]
    assert database_state() == before


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda data: data.update(acounts=[]), "document.acounts: unknown key (did you mean 'accounts'?)"),
        (
            lambda data: data["deployments"][0].update(lifecyle="ga"),
            "deployments[0].lifecyle: unknown key (did you mean 'lifecycle'?)",
        ),
        (
            lambda data: data["models"][1]["capabilities"].update(function_calling=True),
            "models[1].capabilities.function_calling: unknown key "
            "(expected one of: chat, embeddings, tools, vision, streaming)",
        ),
        (
            lambda data: data["aliases"][0]["routes"][0].update(wieght=2),
            "aliases[0].routes[0].wieght: unknown key (did you mean 'weight'?)",
        ),
    ],
    ids=["top-level", "deployment", "model-capability", "route"],
)
def test_an_unknown_key_is_refused_at_its_path_and_changes_nothing(edit, expected):
    varied_catalog()
    document = edited(catalog_export(), edit)
    before = database_state()

    assert problems_of(document) == [expected]
    assert database_state() == before


def test_every_problem_in_a_document_is_reported_at_once():
    varied_catalog()

    def edit(data):
        data["deployments"][0]["account"] = "aws-west"
        data["deployments"][1]["prices"]["input_per_million"] = "-1"
        data["aliases"][1]["is_active"] = "yes"

    assert problems_of(edited(catalog_export(), edit)) == [
        "deployments[1].prices.input_per_million: Ensure this value is greater than or equal to 0.",
        "aliases[1].is_active: expected true or false, got a string",
        "deployments[0].account: unknown account 'aws-west'",
    ]


def test_a_price_written_as_a_float_is_refused_because_it_could_lose_precision():
    varied_catalog()
    document = catalog_export().replace("input_per_million: '3.00'", "input_per_million: 3.00")

    assert problems_of(document) == [
        "deployments[1].prices.input_per_million: write prices as quoted strings (e.g. '2.50') "
        "so no precision is lost to floating point"
    ]


def test_a_price_with_more_decimal_places_than_the_catalog_stores_is_refused():
    varied_catalog()
    document = catalog_export().replace("input_per_million: '3.00'", "input_per_million: '3.0000001'")

    assert problems_of(document) == [
        "deployments[1].prices.input_per_million: Ensure that there are no more than 6 decimal places."
    ]


def test_a_deployment_that_retires_before_it_is_deprecated_is_refused():
    varied_catalog()
    document = catalog_export().replace("retires_on: 2025-09-30", "retires_on: 2025-01-31")

    assert problems_of(document) == ["deployments[0].retires_on: A deployment cannot retire before it is deprecated."]


def test_a_name_used_twice_in_one_section_is_refused():
    varied_catalog()
    document = edited(catalog_export(), lambda data: data["models"].append(dict(data["models"][0])))

    assert problems_of(document) == ["models[2].name: duplicate model 'claude-sonnet' (first at models[0])"]


def test_a_key_written_twice_in_one_mapping_is_refused_rather_than_silently_overwritten():
    varied_catalog()
    document = catalog_export().replace("    lifecycle: preview\n", "    lifecycle: preview\n    lifecycle: ga\n")

    line = document.splitlines().index("    lifecycle: preview") + 2  # the second, duplicate, key

    assert problems_of(document) == [f"line {line}, column 5: not valid YAML: found duplicate key 'lifecycle'"]


def test_a_document_without_the_supported_version_is_refused():
    document = "version: 2\naccounts: []\nmodels: []\ndeployments: []\naliases: []\n"

    assert problems_of(document) == ["version: unsupported version 2; expected 1"]


def test_a_document_missing_a_section_is_refused_so_prune_never_empties_a_kind_by_accident():
    document = "version: 1\naccounts: []\nmodels: []\ndeployments: []\n"

    assert problems_of(document, prune=True) == ["document: missing required key 'aliases' (write 'aliases: []')"]


# --prune


def test_prune_deletes_catalog_objects_absent_from_the_document():
    varied_catalog()

    def edit(data):
        data["aliases"] = [entry(data, "aliases", "chat-internal")]
        data["deployments"] = [entry(data, "deployments", "gpt-4o-eu")]
        data["models"] = [entry(data, "models", "gpt-4o")]
        data["accounts"] = [entry(data, "accounts", "azure-eu")]

    report = catalog_import(document=edited(catalog_export(), edit), prune=True)

    assert list(Alias.objects.values_list("name", flat=True)) == ["chat-internal"]
    assert list(Deployment.objects.values_list("name", flat=True)) == ["gpt-4o-eu"]
    assert list(CatalogModel.objects.values_list("name", flat=True)) == ["gpt-4o"]
    assert list(ProviderAccount.objects.values_list("name", flat=True)) == ["azure-eu"]
    assert report.summary()["routes"] == {"created": 0, "updated": 0, "unchanged": 1, "deleted": 2}


def test_prune_refuses_to_delete_a_deployment_still_routed_by_an_alias_kept_in_the_document():
    varied_catalog()
    document = edited(
        catalog_export(),
        lambda data: data["deployments"].remove(entry(data, "deployments", "gpt-4o-eu")),
    )
    before = database_state()

    problems = problems_of(document, prune=True)

    assert problems == [
        "aliases[0].routes[1].deployment: refusing to prune deployment 'gpt-4o-eu': alias 'chat', kept in the "
        "file, still routes to it (add the deployment to the file or remove the route)",
        "aliases[1].routes[0].deployment: refusing to prune deployment 'gpt-4o-eu': alias 'chat-internal', kept in "
        "the file, still routes to it (add the deployment to the file or remove the route)",
    ]
    assert database_state() == before


def test_prune_refuses_to_delete_an_account_a_deployment_in_the_document_still_uses():
    varied_catalog()
    document = edited(catalog_export(), lambda data: data["accounts"].pop(0))

    assert problems_of(document, prune=True) == [
        f"deployments[{index}].account: refusing to prune account 'aws-east': deployment '{name}', kept in the "
        "file, still references it (add the account to the file or stop referencing it)"
        for index, name in enumerate(["claude-sonnet-east-v1", "claude-sonnet-east-v2"])
    ]


# --dry-run


def test_dry_run_reports_the_changes_an_import_would_make_but_writes_nothing():
    varied_catalog()
    document = edited(catalog_export(), lambda data: data["aliases"].pop())
    before = database_state()

    report = catalog_import(document=document, prune=True, dry_run=True)

    assert report.dry_run
    assert report.summary()["aliases"] == {"created": 0, "updated": 0, "unchanged": 1, "deleted": 1}
    assert database_state() == before


# The documentation


def test_the_example_in_the_catalog_docs_imports_and_is_exactly_what_export_writes():
    page = (Path(__file__).parents[2] / "docs" / "catalog.md").read_text()
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]

    catalog_import(document=example)

    assert catalog_export() == example
