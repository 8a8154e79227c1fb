from django.db import migrations, models

from genai_platform.audit.chain import GENESIS, event_hash


def chain_existing_events(apps, schema_editor):
    """Puts events written before the chain existed on their tenant's chain, oldest first."""
    audit_event = apps.get_model("governance", "AuditEvent")
    chain_head = apps.get_model("governance", "AuditChainHead")
    heads: dict[str, tuple[int, str]] = {}
    for event in audit_event.objects.order_by("id"):
        chain = event.lob_slug or "central"
        sequence, previous = heads.get(chain, (0, GENESIS))
        event.chain, event.sequence, event.prev_hash = chain, sequence + 1, previous
        fields = {f.name: getattr(event, f.name) for f in event._meta.concrete_fields}
        event.hash = event_hash(fields)
        event.save(update_fields=["chain", "sequence", "prev_hash", "hash"])
        heads[chain] = (event.sequence, event.hash)
    for chain, (sequence, head_hash) in heads.items():
        chain_head.objects.create(chain=chain, sequence=sequence, hash=head_hash)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain", models.SlugField(max_length=64, unique=True)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("hash", models.CharField(default="0" * 64, max_length=64)),
            ],
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
            options={"ordering": ["chain", "-sequence"]},
        ),
        migrations.AlterField(model_name="auditevent", name="occurred_at", field=models.DateTimeField(db_index=True)),
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.SlugField(default="central", help_text="The LOB's slug, or 'central'.", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.PositiveBigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("chain", "sequence"), name="audit_event_chain_position"),
        ),
    ]
