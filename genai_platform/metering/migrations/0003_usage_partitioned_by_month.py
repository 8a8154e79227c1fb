# The usage ledger becomes a table partitioned by month of `occurred_at` (PostgreSQL), so that old
# months can be detached, archived and dropped whole. Every row moves into its month's partition.
# A unique key must contain the partition key: the request id's becomes (request_id, occurred_at),
# which a replay of the same buffered record still collides with (it carries the same time), and
# the flusher looks request ids up before inserting (docs/cost-control.md). Moving the rows takes
# time on a large ledger: run it in a maintenance window.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from genai_platform.partitioning import table_partition_by_month


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # the embedded SQLite default keeps a plain table (documented)
    with schema_editor.connection.cursor() as cursor:
        table_partition_by_month(
            cursor,
            "metering_usagerecord",
            key="occurred_at",
            constraints=[
                "ALTER TABLE {table} ADD CONSTRAINT metering_usagerecord_pkey PRIMARY KEY (id, occurred_at)",
                "ALTER TABLE {table} ADD CONSTRAINT usage_request_once UNIQUE (request_id, occurred_at)",
            ],
            months_ahead=settings.LEDGER_PARTITIONS_AHEAD,
            now=timezone.now(),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("lob_tenants", "0004_prompt_catalog"),
        ("metering", "0002_dead_letters_and_daily_rollups"),
    ]

    operations = [
        migrations.AlterField(model_name="usagerecord", name="request_id", field=models.CharField(max_length=64)),
        migrations.AddConstraint(
            model_name="usagerecord",
            constraint=models.UniqueConstraint(fields=("request_id", "occurred_at"), name="usage_request_once"),
        ),
        # (lob, occurred_at) and (use_case, occurred_at) serve every lookup by either: the
        # single-column indexes only slowed every insert.
        migrations.AlterField(
            model_name="usagerecord",
            name="lob",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="lob_tenants.lob"
            ),
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="use_case",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="lob_tenants.usecase"
            ),
        ),
        migrations.RunPython(partition),
    ]
