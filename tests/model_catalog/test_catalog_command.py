"""`manage.py catalog export|import`: what a platform engineer and CI see."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from model_catalog.catalog_yaml import catalog_export

from .catalogs import catalog_clear, database_state, edited, entry, varied_catalog

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("catalog", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def catalog_file(tmp_path):
    varied_catalog()
    path = tmp_path / "catalog.yaml"
    path.write_text(catalog_export())
    return path


def test_export_writes_the_document_to_standard_output():
    varied_catalog()

    out, _ = run("export")

    assert out == catalog_export()


def test_export_with_output_writes_the_document_to_the_file(tmp_path):
    varied_catalog()
    path = tmp_path / "catalog.yaml"

    run("export", "--output", str(path))

    assert path.read_text() == catalog_export()


def test_import_prints_a_summary_per_kind_and_the_changes_it_made(catalog_file):
    catalog_clear()

    out, _ = run("import", str(catalog_file))

    lines = out.splitlines()
    assert lines[0].split() == ["created", "updated", "unchanged", "deleted"]
    assert lines[1].split() == ["accounts", "2", "0", "0", "0"]
    assert lines[5].split() == ["routes", "3", "0", "0", "0"]
    assert "  + deployment gpt-4o-eu" in lines
    assert lines[-1] == f"Imported {catalog_file}."


def test_import_names_the_keys_of_each_updated_object(catalog_file):
    catalog_file.write_text(
        edited(catalog_file.read_text(), lambda data: entry(data, "aliases", "chat").update(is_active=False))
    )

    out, _ = run("import", str(catalog_file))

    assert "  ~ alias chat (is_active)" in out.splitlines()


def test_importing_an_unchanged_file_says_nothing_changed(catalog_file):
    out, _ = run("import", str(catalog_file))

    assert out.splitlines()[-1] == f"Nothing changed: the catalog already matches {catalog_file}."


def test_import_lists_what_it_kept_because_it_did_not_prune(catalog_file):
    catalog_file.write_text(edited(catalog_file.read_text(), lambda data: data["aliases"].pop()))

    out, _ = run("import", str(catalog_file))

    assert "  kept, not in the file (--prune deletes): alias chat-internal" in out.splitlines()


def test_dry_run_prints_the_summary_and_says_nothing_was_written(catalog_file):
    catalog_file.write_text(edited(catalog_file.read_text(), lambda data: data["aliases"].pop()))
    before = database_state()

    out, _ = run("import", str(catalog_file), "--prune", "--dry-run")

    assert "  - alias chat-internal" in out.splitlines()
    assert out.splitlines()[-1] == f"Dry run: {catalog_file} is valid; nothing was written."
    assert database_state() == before


def test_a_refused_import_prints_every_problem_and_fails(catalog_file):
    def edit(data):
        data["deployments"][0]["account"] = "aws-west"
        data["aliases"][0]["strategy"] = "fastest"

    catalog_file.write_text(edited(catalog_file.read_text(), edit))
    err = StringIO()

    with pytest.raises(CommandError, match="refused with 2 problem"):
        call_command("catalog", "import", str(catalog_file), stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "aliases[0].strategy: unknown value 'fastest'; "
        "expected one of: priority, weighted, lowest_cost, lowest_latency",
        "deployments[0].account: unknown account 'aws-west'",
    ]


def test_a_file_that_cannot_be_read_fails_with_its_name(tmp_path):
    missing = tmp_path / "missing.yaml"

    with pytest.raises(CommandError, match=f"cannot read {missing}"):
        run("import", str(missing))
