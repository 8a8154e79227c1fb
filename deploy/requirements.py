"""Print the requirements of genai-platform with the given extras, one per line, for `pip install -r`.

    python deploy/requirements.py                  # the core: the gateway image, no cloud SDK
    python deploy/requirements.py bedrock          # the core and the bedrock extra
    python deploy/requirements.py providers        # every provider SDK (extras that name other extras are expanded)

The image (deploy/Dockerfile) installs these dependencies and runs the code from /app instead of
installing the project itself, so settings' BASE_DIR is /app and every file of the source tree
(templates, static files) is there without packaging rules. Reading pyproject.toml keeps it the
single list of dependencies. An unknown extra is an error, not pip's silent warning.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: A requirement on the project itself with extras: `genai-platform[bedrock,vertex]`.
SELF_REFERENCE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*\[(?P<extras>[^\]]*)\]\s*$")


def canonical(name: str) -> str:
    """PEP 503/685 normalization: `azure_openai`, `Azure-OpenAI` and `azure.openai` are one name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    project = pyproject["project"]
    own_name = canonical(project["name"])
    optional = {canonical(name): reqs for name, reqs in project.get("optional-dependencies", {}).items()}
    result: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    pending = [extra for extra in extras if extra.strip()]
    while pending:
        extra = canonical(pending.pop(0).strip())
        if extra in seen:
            continue
        if extra not in optional:
            known = ", ".join(sorted(optional))
            raise SystemExit(f"unknown extra {extra!r} of {project['name']}; known extras: {known}")
        seen.add(extra)
        for requirement in optional[extra]:
            match = SELF_REFERENCE.match(requirement)
            if match and canonical(match["name"]) == own_name:
                pending.extend(match["extras"].split(","))
            elif canonical(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]) == own_name:
                raise SystemExit(f"unsupported reference to the project itself: {requirement!r}")
            else:
                result.append(requirement)
    return list(dict.fromkeys(result))


def main(argv: list[str]) -> None:
    extras = ",".join(argv).split(",")
    with PYPROJECT.open("rb") as handle:
        pyproject = tomllib.load(handle)
    for requirement in requirements(pyproject, extras):
        print(requirement)


if __name__ == "__main__":
    main(sys.argv[1:])
