"""Installs the access-policy lines for vector stores on databases that already ran
`access.0002_default_policy` before these lines were part of the default policy."""

from django.db import migrations

VECTOR_STORE_POLICY = (
    ("lob_admin", "*", "vector_store", "*"),
    ("lob_developer", "*", "vector_store", "*"),
    ("lob_viewer", "*", "vector_store", "read"),
)


def install(apps, schema_editor):
    policy_rule = apps.get_model("access", "PolicyRule")
    for role, domain, obj, act in VECTOR_STORE_POLICY:
        policy_rule.objects.get_or_create(role=role, domain=domain, obj=obj, act=act)


def uninstall(apps, schema_editor):
    policy_rule = apps.get_model("access", "PolicyRule")
    for role, domain, obj, act in VECTOR_STORE_POLICY:
        policy_rule.objects.filter(role=role, domain=domain, obj=obj, act=act).delete()


class Migration(migrations.Migration):
    dependencies = [("vector_stores", "0001_initial"), ("access", "0002_default_policy")]

    operations = [migrations.RunPython(install, uninstall)]
