"""Installs the access-policy lines for agents, tools and tool allowances on databases that already
ran `access.0002_default_policy` before these lines were part of the default policy."""

from django.db import migrations

AGENT_POLICY = (
    ("platform_admin", "central", "tool_allowance", "*"),
    ("governance_reviewer", "central", "tool_allowance", "read"),
    ("lob_admin", "*", "agent", "*"),
    ("lob_developer", "*", "agent", "*"),
    ("lob_viewer", "*", "agent", "read"),
)


def install(apps, schema_editor):
    policy_rule = apps.get_model("access", "PolicyRule")
    for role, domain, obj, act in AGENT_POLICY:
        policy_rule.objects.get_or_create(role=role, domain=domain, obj=obj, act=act)


def uninstall(apps, schema_editor):
    policy_rule = apps.get_model("access", "PolicyRule")
    for role, domain, obj, act in AGENT_POLICY:
        policy_rule.objects.filter(role=role, domain=domain, obj=obj, act=act).delete()


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial"), ("access", "0002_default_policy")]

    operations = [migrations.RunPython(install, uninstall)]
