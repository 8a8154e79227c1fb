"""The Grafana dashboard (deploy/grafana) and the alerting rules (deploy/prometheus) query only metrics
that /metrics actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import AliasFactory, UseCaseFactory, issue_key

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana/genai-platform.json"
ALERTS = DEPLOY / "prometheus/genai-alerts.yaml"
METRIC_NAME = re.compile(r"\b(?:genai|gen_ai)_[a-z_]+\b")
GROUPING = re.compile(r"\bby \([^)]*\)")


def metric_names(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(GROUPING.sub("", expr))}


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_the_alerts_query_is_exported():
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="dashboard-chat")]))[1]
    body = {"model": "dashboard-chat", "messages": [{"role": "user", "content": "fill the metrics"}]}
    Client().post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    exposition = Client().get("/metrics").content.decode()
    exported = set()
    for family in text_string_to_metric_families(exposition):
        exported.add(family.name)
        exported |= {sample.name for sample in family.samples}
        if family.type == "counter":
            exported.add(f"{family.name}_total")
        if family.type == "histogram":
            exported |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}

    assert metric_names(dashboard_expressions()) - exported == set()
    assert metric_names(alert_expressions()) - exported == set()
    assert len(metric_names(dashboard_expressions())) >= 10
