# The audit log becomes a table partitioned by month of `occurred_at` (PostgreSQL), so that old
# months can be detached, archived and dropped whole, never deleted row by row. Every row moves
# into its month's partition; the append-only row trigger is recreated on the new parent (and so
# cloned onto every partition), the TRUNCATE refusal on the parent and on each partition. Primary
# and unique keys must contain the partition key: (id, occurred_at) and (chain, sequence, occurred_at).
# Moving the rows takes time on a large log: run it in a maintenance window.

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from genai_platform.audit.partitions import (
    ARCHIVE_ROW_TRIGGER,
    AUDIT_TABLE,
    ROW_TRIGGER,
    TRUNCATE_TRIGGER,
)
from genai_platform.partitioning import partitions_list, table_partition_by_month


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # the embedded SQLite default has neither partitions nor triggers (documented)
    with schema_editor.connection.cursor() as cursor:
        table_partition_by_month(
            cursor,
            AUDIT_TABLE,
            key="occurred_at",
            constraints=[
                "ALTER TABLE {table} ADD CONSTRAINT governance_auditevent_pkey PRIMARY KEY (id, occurred_at)",
                "ALTER TABLE {table} ADD CONSTRAINT audit_event_chain_position UNIQUE (chain, sequence, occurred_at)",
            ],
            months_ahead=settings.LEDGER_PARTITIONS_AHEAD,
            now=timezone.now(),
        )
        cursor.execute(ROW_TRIGGER.format(table=AUDIT_TABLE))
        for name in [AUDIT_TABLE, *(name for name, _ in partitions_list(cursor, AUDIT_TABLE))]:
            cursor.execute(TRUNCATE_TRIGGER.format(partition=f'"{name}"'))
        cursor.execute(ARCHIVE_ROW_TRIGGER)


def heads_remember_their_last_time(apps, schema_editor):
    head = apps.get_model("audit", "AuditChainHead")
    event = apps.get_model("audit", "AuditEvent")
    for chain_head in head.objects.all():
        last = event.objects.filter(chain=chain_head.chain).order_by("-sequence").first()
        if last is not None:
            head.objects.filter(pk=chain_head.pk).update(last_at=last.occurred_at)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="ArchivedPartition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("table", models.CharField(max_length=63)),
                ("partition", models.CharField(max_length=63, unique=True)),
                ("month_start", models.DateTimeField()),
                ("month_end", models.DateTimeField()),
                ("rows", models.PositiveBigIntegerField()),
                (
                    "file_name",
                    models.CharField(help_text="The export's file name in the archive directory.", max_length=255),
                ),
                ("sha256", models.CharField(help_text="SHA-256 of the export file.", max_length=64)),
                ("chains", models.JSONField(blank=True, default=dict)),
                ("archived_at", models.DateTimeField()),
            ],
            options={"db_table": "audit_archivedpartition", "ordering": ["table", "month_start"]},
        ),
        migrations.RemoveConstraint(model_name="auditevent", name="audit_event_chain_position"),
        migrations.AddField(
            model_name="auditchainhead", name="last_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("chain", "sequence", "occurred_at"), name="audit_event_chain_position"
            ),
        ),
        # The position key starts with the chain: a separate index on it only slowed every append.
        migrations.AlterField(
            model_name="auditevent",
            name="chain",
            field=models.SlugField(db_index=False, help_text="The LOB's slug, or 'central'.", max_length=64),
        ),
        migrations.RunPython(heads_remember_their_last_time, migrations.RunPython.noop),
        migrations.RunPython(partition),
    ]
