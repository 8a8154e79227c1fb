"""The architecture's rules are import contracts (`.importlinter`): they hold on the code as it is,
and an import that breaks one makes the check fail, naming the rule."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("genai_platform", "governance", "lob_tenants", "model_catalog")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / ".importlinter")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_contract():
    checked = lint_imports(ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 broken" in checked.stdout


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python sources and the contracts, without anything else of the checkout."""
    root = tmp_path_factory.mktemp("code")
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    (root / "tests").mkdir()
    for module in ("__init__.py", "architecture_contracts.py"):  # the contract type import-linter lacks
        shutil.copy(ROOT / "tests" / module, root / "tests" / module)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.html", "*.js"))
    return root


@pytest.mark.parametrize(
    ("module", "forbidden_import", "broken_rule"),
    [
        ("genai_platform/providers/leak.py", "import django.db", "Providers know no Django app"),
        ("genai_platform/providers/leak.py", "import model_catalog.models", "Providers know no Django app"),
        ("lob_tenants/agents/leak.py", "import genai_platform.gateway.pipeline", "Below the HTTP edge nothing"),
        ("governance/leak.py", "from genai_platform.gateway import errors", "Below the HTTP edge nothing"),
        ("model_catalog/leak.py", "import lob_tenants.models", "The model catalog's code never names a tenant"),
        ("genai_platform/inference/leak.py", "import lob_tenants.vector_stores.retrieval", "The inference core"),
        ("genai_platform/router/leak.py", "import genai_platform.inference.chat", "The call path has one direction"),
        ("genai_platform/metering/leak.py", "import genai_platform.gateway.apis", "No cycles between the children"),
        ("genai_platform/audit/leak.py", "import governance.models", "The audit log sits below every app"),
        ("governance/leak.py", "import lob_tenants.agents.services", "No cycles between top-level units"),
        ("genai_platform/metering/leak.py", "import genai_platform.ledger.services", "The ledger's writer sits above"),
        ("genai_platform/ledger/leak.py", "import genai_platform.inference.chat", "The ledger knows no HTTP edge"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    copy_of_the_code: Path, module: str, forbidden_import: str, broken_rule
):
    leak = copy_of_the_code / module
    leak.write_text(f'"""A deliberate breach of the architecture."""\n\n{forbidden_import}\n')
    try:
        checked = lint_imports(copy_of_the_code)
    finally:
        leak.unlink()
    assert checked.returncode != 0
    broken = checked.stdout.split("Broken contracts", 1)[-1]
    assert broken_rule in " ".join(broken.split()), checked.stdout


def test_a_known_cycle_that_is_no_longer_one_breaks_the_contract(copy_of_the_code: Path):
    """Listing a unit among the known cycles that is in none (the providers import no app) is refused:
    the list of knots cannot outlive the imports that tie them."""
    contracts = copy_of_the_code / ".importlinter"
    original = contracts.read_text()
    knot = next(line for line in original.splitlines() if " + " in line)
    contracts.write_text(original.replace(knot, knot + " + genai_platform.providers"))
    try:
        checked = lint_imports(copy_of_the_code)
    finally:
        contracts.write_text(original)
    assert checked.returncode != 0
    assert "Known cycle no longer a cycle" in " ".join(checked.stdout.split()), checked.stdout
