"""How the audit log's table is partitioned: one partition per month of `occurred_at`, each guarded
like the parent. Shared by the migration that partitions the table and by the maintenance service
that creates months ahead, so every partition gets the same guards whoever made it."""

from __future__ import annotations

AUDIT_TABLE = "governance_auditevent"
ARCHIVE_TABLE = "audit_archivedpartition"

#: The append-only function of governance 0003 refuses UPDATE and DELETE; as a row trigger on the
#: partitioned parent PostgreSQL (>= 13) clones it onto every partition, present and future.
ROW_TRIGGER = (
    "CREATE TRIGGER governance_auditevent_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()"
)

#: TRUNCATE is a statement trigger, which is not cloned: `TRUNCATE governance_auditevent_p202612`
#: names the partition, so each partition carries its own (with `{partition}` filled in).
TRUNCATE_TRIGGER = (
    "CREATE TRIGGER governance_auditevent_no_truncate BEFORE TRUNCATE ON {partition} "
    "FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate()"
)

#: The archive records are append-only too (the same function refuses UPDATE and DELETE).
ARCHIVE_ROW_TRIGGER = (
    "CREATE TRIGGER audit_archivedpartition_append_only BEFORE UPDATE OR DELETE ON audit_archivedpartition "
    "FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()"
)
