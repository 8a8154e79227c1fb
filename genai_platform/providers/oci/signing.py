"""Who signs OCI requests: an API key from the account's credentials, or the worker's ambient
identity (instance principal, resource principal, OKE workload identity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import oci

from genai_platform.providers.types import (
    AccountConfig,
    ErrorKind,
    ProviderError,
)

AMBIENT_AUTH_MODES = ("instance_principal", "resource_principal", "oke_workload_identity")
API_KEY_FIELDS = ("user", "tenancy", "fingerprint", "key_content")


def identity(config: AccountConfig, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The SDK config dict and, for ambient identities, the signer that replaces the API key."""
    credentials = dict(config.credentials)
    if credentials:
        missing = [name for name in API_KEY_FIELDS if not credentials.get(name)]
        if missing:
            raise ProviderError(ErrorKind.AUTH, f"OCI API key credentials lack {', '.join(missing)}")
        sdk_config: dict[str, Any] = {name: credentials[name] for name in API_KEY_FIELDS}
        # A PEM kept in an environment variable often arrives with escaped newlines.
        sdk_config["key_content"] = sdk_config["key_content"].replace("\\n", "\n")
        if credentials.get("pass_phrase"):
            sdk_config["pass_phrase"] = credentials["pass_phrase"]
        sdk_config["region"] = config.region
        try:
            oci.config.validate_config(sdk_config)
        except oci.exceptions.InvalidConfig as exc:
            raise ProviderError(ErrorKind.AUTH, f"invalid OCI API key configuration: {exc}") from exc
        return sdk_config, None
    mode = str(options.get("auth", "instance_principal"))
    try:
        if mode == "instance_principal":
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        elif mode == "resource_principal":
            signer = oci.auth.signers.get_resource_principals_signer()
        elif mode == "oke_workload_identity":
            signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer()
        else:
            raise ProviderError(
                ErrorKind.BAD_REQUEST, f"options.auth must be one of {', '.join(AMBIENT_AUTH_MODES)}, not {mode!r}"
            )
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(ErrorKind.AUTH, f"cannot obtain the worker's OCI {mode} identity: {exc}") from exc
    return ({"region": config.region} if config.region else {}), signer
