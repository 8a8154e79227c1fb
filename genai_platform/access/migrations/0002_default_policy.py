from django.db import migrations

from genai_platform.access.policy import DEFAULT_POLICY


def install(apps, schema_editor):
    policy_rule = apps.get_model("access", "PolicyRule")
    for role, domain, obj, act in DEFAULT_POLICY:
        policy_rule.objects.get_or_create(role=role, domain=domain, obj=obj, act=act)


def uninstall(apps, schema_editor):
    apps.get_model("access", "PolicyRule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
