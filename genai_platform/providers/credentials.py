"""Resolve an account's credentials reference into secrets, inside the worker that needs them.

A reference maps a field name to where its value lives: `env:NAME` (an environment variable) or
`file:PATH` (a mounted secret). An empty reference means the cloud's ambient identity (instance
role, workload identity, managed identity, resource principal), which the SDK finds itself.
Secrets therefore never enter the database, the code or a Celery message.
"""

from collections.abc import Mapping
from pathlib import Path

from .types import ErrorKind, ProviderError


def resolve_credentials(reference: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name, where in reference.items():
        scheme, _, location = where.partition(":")
        if scheme == "env":
            if location not in environ:
                raise ProviderError(ErrorKind.AUTH, f"credential {name!r}: environment variable {location} is not set")
            resolved[name] = environ[location]
        elif scheme == "file":
            try:
                resolved[name] = Path(location).read_text().strip()
            except OSError as exc:
                raise ProviderError(
                    ErrorKind.AUTH, f"credential {name!r}: cannot read {location}: {exc.strerror}"
                ) from exc
        else:
            raise ProviderError(ErrorKind.AUTH, f"credential {name!r}: unknown reference scheme {scheme!r}")
    return resolved
