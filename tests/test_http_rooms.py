"""An app's HTTP room (`apis.py`, `*_apis.py`) is reached from outside its package only by URL
confs: another app that needs a helper from it asks the helper's own module (a selector, a service or
a shared management-API helper), so no app depends on another app's views."""

from __future__ import annotations

import grimp

PACKAGES = ("genai_platform", "governance", "lob_tenants", "model_catalog")


def _is_http_room(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return leaf == "apis" or leaf.endswith("_apis")


def _is_url_conf(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return leaf == "urls" or leaf.endswith("_urls")


def _package(module: str) -> str:
    return module.rsplit(".", 1)[0]


def foreign_imports_of_http_rooms(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    return sorted(
        (importer, room)
        for room in graph.modules
        if _is_http_room(room)
        for importer in graph.find_modules_that_directly_import(room)
        if _package(importer) != _package(room) and not _is_url_conf(importer)
    )


def test_only_url_confs_reach_another_package_s_http_room():
    assert foreign_imports_of_http_rooms(grimp.build_graph(*PACKAGES)) == []


def test_the_rule_names_a_view_module_imported_by_another_app(tmp_path, monkeypatch):
    for name, text in {
        "alpha/__init__.py": "",
        "alpha/apis.py": "def helper(): ...\n",
        "alpha/urls.py": "from alpha import apis\n",
        "beta/__init__.py": "",
        "beta/views.py": "from alpha.apis import helper\n",
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert foreign_imports_of_http_rooms(grimp.build_graph("alpha", "beta")) == [("beta.views", "alpha.apis")]
