"""The Grafana dashboard in deploy/grafana queries only metrics that /metrics actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import AliasFactory, UseCaseFactory, issue_key

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/genai-platform.json"
METRIC_NAME = re.compile(r"\b(?:genai|gen_ai)_[a-z_]+\b")
GROUPING = re.compile(r"\bby \([^)]*\)")


def dashboard_metric_names() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {
        name
        for panel in panels
        for target in panel["targets"]
        for name in METRIC_NAME.findall(GROUPING.sub("", target["expr"]))
    }


@pytest.mark.django_db
def test_every_metric_the_dashboard_queries_is_exported():
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

    assert dashboard_metric_names() - exported == set()
    assert len(dashboard_metric_names()) >= 10
