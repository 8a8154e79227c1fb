"""Tenancy: lines of business, their members and the object grants on a LOB, below every app that scopes by LOB.

Access control (the casbin enforcer, `RolePermission`, the portal base) and the catalog's admin
pages read `Lob` and `Membership`; use cases, keys and prompt templates (`lob_tenants`) sit above
access and hang off a `Lob`. So the tenant boundary itself lives here, importing neither access nor
the catalog nor `lob_tenants`, and the three no longer import each other in a loop.

The models keep `app_label = "lob_tenants"` and their tables: to Django they are still
`lob_tenants`' models (no migration, same content types, permission codenames and admin URLs);
`lob_tenants.models` re-exports them for the code that imports them from there.
"""
