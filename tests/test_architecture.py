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
        ("model_catalog/leak.py", "import genai_platform.tenancy.models", "The model catalog's code never names"),
        ("genai_platform/tenancy/leak.py", "import genai_platform.access.policy", "Tenancy (LOBs, members"),
        ("genai_platform/tenancy/leak.py", "import model_catalog.models", "Tenancy (LOBs, members"),
        ("genai_platform/access/leak.py", "import lob_tenants.selectors", "Access control sits below the apps"),
        ("genai_platform/access/leak.py", "import model_catalog.models", "Access control sits below the apps"),
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


UNITS_CONTRACT = "[importlinter:contract:no-cycles-between-units]"


def with_known_cycle(contracts: str, group: str) -> str:
    """`contracts` with `group` added to the known cycles of the units contract, whether that lists
    some, none (`known_cycles =`) or has no such option."""
    lines = contracts.splitlines()
    start = lines.index(UNITS_CONTRACT)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    option = next((i for i in range(start, end) if lines[i].split("=")[0].strip() == "known_cycles"), None)
    if option is None:
        last = max(i for i in range(start, end) if lines[i].strip() and not lines[i].startswith(";"))
        lines[last + 1 : last + 1] = ["known_cycles =", f"    {group}"]
    else:
        lines.insert(option + 1, f"    {group}")
    return "\n".join(lines) + "\n"


def test_a_known_cycle_that_is_no_longer_one_breaks_the_contract(copy_of_the_code: Path):
    """Listing as a knot units that import each other in no loop (the providers import no app) is
    refused: the list of knots cannot outlive the imports that tie them. The test lists its own
    knot, so it holds whatever the real list says, even once it is empty."""
    contracts = copy_of_the_code / ".importlinter"
    original = contracts.read_text()
    contracts.write_text(with_known_cycle(original, "genai_platform.providers + model_catalog"))
    try:
        checked = lint_imports(copy_of_the_code)
    finally:
        contracts.write_text(original)
    assert checked.returncode != 0
    assert "Known cycle no longer a cycle" in " ".join(checked.stdout.split()), checked.stdout
    assert "genai_platform.providers + model_catalog" in " ".join(checked.stdout.split()), checked.stdout


def small_code_base(root: Path, sources: dict[str, str], known_cycles: str = "") -> Path:
    """Packages of `sources` under `root`, checked by the units contract alone, each package a unit."""
    for name, text in sources.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    (root / "tests").mkdir()
    for module in ("__init__.py", "architecture_contracts.py"):
        shutil.copy(ROOT / "tests" / module, root / "tests" / module)
    packages = "".join(f"\n    {name.split('/')[0]}" for name in sources if name.endswith("/__init__.py"))
    (root / ".importlinter").write_text(
        f"[importlinter]\nroot_packages ={packages}\n"
        "contract_types =\n    acyclic_units: tests.architecture_contracts.AcyclicUnitsContract\n\n"
        f"{UNITS_CONTRACT}\nname = Units\ntype = acyclic_units\nunits ={packages}\n{known_cycles}"
    )
    return root


@pytest.mark.parametrize(
    ("known_cycles", "loop"),
    [
        pytest.param("", False, id="no known_cycles option"),
        pytest.param("known_cycles =\n", False, id="an empty known_cycles"),
        pytest.param("known_cycles =\n    alpha + beta\n", True, id="a group that is one cycle"),
    ],
)
def test_the_units_contract_holds_with_or_without_known_cycles(tmp_path: Path, known_cycles: str, loop: bool):
    """A code base with no knot left keeps the contract with the option absent or empty; a listed
    group that is one cycle counts as one unit."""
    code = small_code_base(
        tmp_path,
        {
            "alpha/__init__.py": "",
            "alpha/a.py": "import beta.b\n",
            "beta/__init__.py": "",
            "beta/b.py": "import alpha.a\n" if loop else "",
            "gamma/__init__.py": "",
            "gamma/c.py": "import alpha.a\n",
        },
        known_cycles,
    )
    checked = lint_imports(code)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 kept, 0 broken" in checked.stdout, checked.stdout


def test_the_units_contract_names_each_step_of_a_cycle(tmp_path: Path):
    code = small_code_base(
        tmp_path,
        {
            "alpha/__init__.py": "",
            "alpha/a.py": "import beta.b\n",
            "beta/__init__.py": "",
            "beta/b.py": "import alpha.a\n",
        },
    )
    checked = lint_imports(code)
    assert checked.returncode != 0
    assert "alpha -> beta (alpha.a imports beta.b)" in checked.stdout, checked.stdout
    assert "beta -> alpha (beta.b imports alpha.a)" in checked.stdout, checked.stdout
