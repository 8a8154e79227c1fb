"""The provider registry's early import: a worker imports its providers' SDKs before its first call."""

from __future__ import annotations

import sys

from genai_platform.providers import registry


def test_the_adapter_modules_of_the_given_providers_are_imported_and_named(monkeypatch):
    monkeypatch.delitem(sys.modules, "genai_platform.providers.sandbox", raising=False)

    imported = registry.adapters_import(["sandbox", "no_such_provider"])

    assert imported == ["sandbox"]
    assert "genai_platform.providers.sandbox" in sys.modules


def test_a_provider_whose_extra_is_missing_is_skipped(monkeypatch):
    def missing():
        raise ImportError("No module named 'boto3'", name="boto3")

    monkeypatch.setattr(registry, "PROVIDERS", {**registry.PROVIDERS, "bedrock": ("AWS Bedrock", missing)})

    assert registry.adapters_import(["bedrock", "sandbox"]) == ["sandbox"]
