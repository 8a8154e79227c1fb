from django.db import migrations

# The row trigger of 0003 refuses UPDATE and DELETE; TRUNCATE fires no row trigger, so a
# statement-level one refuses it too. A superuser is let through: it can switch any trigger off
# anyway (which is why the application never connects as one, see governance/db_roles.py), and
# test databases are emptied between transactional tests with TRUNCATE by one.
CREATE = """
CREATE OR REPLACE FUNCTION governance_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: TRUNCATE on governance_auditevent is refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_auditevent_no_truncate
    BEFORE TRUNCATE ON governance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS governance_auditevent_no_truncate ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_audit_no_truncate();
"""


def create_trigger(apps, schema_editor):
    # PostgreSQL only, like 0003: the embedded SQLite default has no such trigger (documented).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0007_guardrail_shadow_counts")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
