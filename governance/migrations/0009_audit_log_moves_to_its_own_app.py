# The audit log's models now belong to the `audit` app (genai_platform/audit), which took them over
# in its 0001 with the same tables: here they only leave governance's state; the database is untouched.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_audit_refuses_truncate"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditChainHead"),
                migrations.DeleteModel(name="AuditCheckpoint"),
                migrations.DeleteModel(name="AuditEvent"),
            ]
        )
    ]
