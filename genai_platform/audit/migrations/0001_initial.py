# The audit log moved out of governance into an app of its own below every domain app. The move is
# state-only: the tables keep their names (db_table), so no row moves and the append-only triggers of
# governance 0003 and 0008 keep guarding governance_auditevent.

from django.db import migrations, models

MOVED = ("auditevent", "auditchainhead", "auditcheckpoint")


def content_types_follow(apps, schema_editor):
    """Existing content types (and the permissions, object grants and admin log entries pointing at
    them) move with the models instead of being left stale beside new ones."""
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="governance", model__in=MOVED).update(app_label="audit")


def content_types_return(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="audit", model__in=MOVED).update(app_label="governance")


class Migration(migrations.Migration):
    initial = True

    dependencies = [("governance", "0008_audit_refuses_truncate"), ("contenttypes", "0002_remove_content_type_name")]

    state_operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain", models.SlugField(max_length=64, unique=True)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("hash", models.CharField(default="0" * 64, max_length=64)),
            ],
            options={"db_table": "governance_auditchainhead"},
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain", models.SlugField(max_length=64)),
                ("sequence", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("signed_at", models.DateTimeField()),
                (
                    "signature",
                    models.CharField(help_text="Hex Ed25519 signature of the checkpoint statement.", max_length=128),
                ),
                (
                    "key_id",
                    models.CharField(help_text="Fingerprint of the public key that verifies it.", max_length=16),
                ),
            ],
            options={"db_table": "governance_auditcheckpoint", "ordering": ["chain", "-sequence"]},
        ),
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain", models.SlugField(help_text="The LOB's slug, or 'central'.", max_length=64)),
                ("sequence", models.PositiveBigIntegerField()),
                ("occurred_at", models.DateTimeField(db_index=True)),
                ("actor", models.CharField(help_text="User name, 'system', or 'key:<prefix>'.", max_length=200)),
                ("action", models.CharField(db_index=True, max_length=100)),
                ("object_type", models.CharField(max_length=100)),
                ("object_id", models.CharField(max_length=100)),
                ("lob_slug", models.SlugField(blank=True, max_length=64)),
                ("before", models.JSONField(blank=True, null=True)),
                ("after", models.JSONField(blank=True, null=True)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "db_table": "governance_auditevent",
                "ordering": ["-occurred_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("chain", "sequence"), name="audit_event_chain_position")
                ],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
