"""Tool endpoint URLs and the allow-list's prefixes: parsing and matching, with no Django in them.

A prefix is a scheme, a host, an optional port and an optional path prefix. A URL matches when its
scheme, host and port are equal to the prefix's (the port defaulting by scheme, hosts compared
case-insensitively) and its path is the prefix's path or lies under it segment by segment:
`https://tools.example.com/crm` matches `https://tools.example.com/crm/lookup`, never
`https://tools.example.com/crm-admin` nor `https://tools.example.com.evil.net/crm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class EndpointError(ValueError):
    """The text is not a URL the platform will call or allow-list."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str

    def under(self, prefix: Endpoint) -> bool:
        """Whether this URL lies under `prefix` (see the module docstring)."""
        if (self.scheme, self.host, self.port) != (prefix.scheme, prefix.host, prefix.port):
            return False
        base = prefix.path.rstrip("/")
        return not base or self.path == base or self.path.startswith(base + "/")


def endpoint_parse(url: str, *, prefix: bool = False) -> Endpoint:
    """Parses an http(s) URL; refuses credentials in it, `..` segments, and (for a prefix) a query
    or fragment, so what is matched is exactly what is called."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise EndpointError(f"not a valid URL: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EndpointError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise EndpointError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointError("the URL must not carry credentials; give the tool a credential reference instead")
    if ".." in parts.path.split("/"):
        raise EndpointError("the URL's path must not contain '..' segments")
    if prefix and (parts.query or parts.fragment):
        raise EndpointError("an allowed endpoint prefix has no query or fragment")
    return Endpoint(
        scheme=scheme,
        host=parts.hostname.lower().rstrip("."),
        port=port if port is not None else DEFAULT_PORTS[scheme],
        path=parts.path or "/",
    )


def endpoint_allowed(url: str, prefixes: list[str]) -> bool:
    """Whether `url` lies under one of `prefixes`; a URL or prefix that does not parse matches nothing."""
    try:
        endpoint = endpoint_parse(url)
    except EndpointError:
        return False
    for text in prefixes:
        try:
            if endpoint.under(endpoint_parse(text, prefix=True)):
                return True
        except EndpointError:
            continue
    return False
