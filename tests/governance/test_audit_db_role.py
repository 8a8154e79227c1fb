"""The audit log against its own application: connected as the application's PostgreSQL role (what
`make up`, the e2e stack and production use), nothing can rewrite, remove or empty audit events,
nor switch off the triggers that guard them; the table owner is stopped by the triggers too.

These tests commit (the application's connection must see the roles and the event), so they use a
transactional database.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction
from psycopg import errors

from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_record
from governance.db_roles import database_roles_apply
from tests.factories import LobFactory

pytestmark = pytest.mark.django_db(transaction=True)
OWNER, APP = "genai_test_owner", "genai_test_app"


@pytest.fixture
def event() -> AuditEvent:
    lob = LobFactory(slug="retail")
    with transaction.atomic():
        event = audit_record(actor="alice", action="use_case.updated", target=lob, lob_slug="retail", after={"n": 1})
    with connection.cursor() as cursor:
        database_roles_apply(cursor=cursor, owner=OWNER, app=APP)
    return event


def connect_as(role: str) -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        dbname=params["NAME"],
        user=role,
        autocommit=True,
    )


def test_the_application_role_is_no_superuser_and_owns_nothing(event):
    with connect_as(APP) as app:
        superuser, create_role, bypass_rls = app.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        owned = app.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
        ).fetchone()[0]

    assert (superuser, create_role, bypass_rls, owned) == (False, False, False, 0)


def test_the_application_reads_and_appends_audit_events_and_writes_its_other_tables(event):
    with connect_as(APP) as app:
        assert app.execute("SELECT count(*) FROM governance_auditevent").fetchone()[0] == 1
        app.execute("UPDATE lob_tenants_lob SET name = 'Retail banking' WHERE slug = 'retail'")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE governance_auditevent SET actor = 'mallory'",
        "DELETE FROM governance_auditevent",
        "TRUNCATE governance_auditevent",
        "TRUNCATE governance_auditevent CASCADE",
    ],
)
def test_the_application_cannot_rewrite_remove_or_empty_audit_events(event, statement):
    with connect_as(APP) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute(statement)

    assert AuditEvent.objects.get().actor == "alice"


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("SET session_replication_role = replica", errors.InsufficientPrivilege),
        ("ALTER TABLE governance_auditevent DISABLE TRIGGER ALL", errors.InsufficientPrivilege),
        (
            "ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_append_only",
            errors.InsufficientPrivilege,
        ),
        ("DROP TRIGGER governance_auditevent_no_truncate ON governance_auditevent", errors.InsufficientPrivilege),
        ("DROP FUNCTION governance_audit_append_only() CASCADE", errors.InsufficientPrivilege),
        ("CREATE TABLE governance_shadow (id int)", errors.InsufficientPrivilege),
    ],
)
def test_the_application_cannot_switch_the_audit_triggers_off(event, statement, refusal):
    with connect_as(APP) as app, pytest.raises(refusal):
        app.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE governance_auditevent SET actor = 'mallory'",
        "DELETE FROM governance_auditevent",
        "TRUNCATE governance_auditevent",
    ],
)
def test_even_the_table_owner_is_refused_by_the_triggers(event, statement):
    with connect_as(OWNER) as owner, pytest.raises(errors.RaiseException, match="append-only"):
        owner.execute(statement)

    assert AuditEvent.objects.get().actor == "alice"


def test_applying_the_roles_twice_changes_nothing(event):
    with connection.cursor() as cursor:
        again = database_roles_apply(cursor=cursor, owner=OWNER, app=APP)

    assert again.created == () and again.tables_reowned == 0


def this_months_partition() -> str:
    from django.utils import timezone

    from genai_platform.partitioning import Month, partition_name

    return partition_name("governance_auditevent", Month.of(timezone.now()))


_PARTITION_STATEMENTS = ["UPDATE {partition} SET actor = 'mallory'", "DELETE FROM {partition}", "TRUNCATE {partition}"]


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        *((APP, statement) for statement in _PARTITION_STATEMENTS),
        *((OWNER, statement) for statement in _PARTITION_STATEMENTS),
        (APP, "ALTER TABLE governance_auditevent DETACH PARTITION {partition}"),
    ],
)
def test_a_months_partition_named_directly_is_guarded_like_the_table(event, role, statement):
    """Row triggers are cloned onto every partition and the TRUNCATE trigger is put on each one;
    only the owner may detach a month (the archive does, after exporting and verifying it)."""
    with connect_as(role) as connected, pytest.raises((errors.InsufficientPrivilege, errors.RaiseException)):
        connected.execute(statement.format(partition=this_months_partition()))

    assert AuditEvent.objects.get().actor == "alice"
