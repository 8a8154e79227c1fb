"""The default role policy, installed by a data migration and kept as data so it can change at run time.

Objects are the kinds of thing the management API and portal act on; actions are `read` and
`write`. LOB roles hold in every LOB domain (`*`), but a user has them only in the LOBs of their
memberships, so a LOB admin of one LOB can do nothing in another. Central roles hold only in
`central`: nothing in them reaches a LOB's data.
"""

READ, WRITE = "read", "write"

#: The shape of a policy line's parts, checked by the API and the portal before a line is added.
POLICY_ROLE = r"^[a-z][a-z0-9_]*$"
POLICY_DOMAIN = r"^(\*|central|lob:[-a-zA-Z0-9_]+)$"
POLICY_OBJECT = r"^(\*|[a-z][a-z0-9_]*)$"
POLICY_ACTIONS = (READ, WRITE, "*")

DEFAULT_POLICY: tuple[tuple[str, str, str, str], ...] = (
    # The central platform team: catalog, guardrail policies, budgets and LOBs themselves.
    ("platform_admin", "central", "catalog", "*"),
    ("platform_admin", "central", "guardrail_policy", "*"),
    ("platform_admin", "central", "budget", "*"),
    ("platform_admin", "central", "lob", "*"),
    ("platform_admin", "central", "audit", READ),
    ("platform_admin", "central", "usage", READ),
    ("platform_admin", "central", "break_glass", "*"),
    ("platform_admin", "central", "tool_allowance", "*"),
    # The governance board: reviews and the audit log.
    ("governance_reviewer", "central", "review", "*"),
    ("governance_reviewer", "central", "audit", READ),
    ("governance_reviewer", "central", "catalog", READ),
    ("governance_reviewer", "central", "tool_allowance", READ),
    # LOB roles, in the LOBs where the user is a member.
    ("lob_admin", "*", "use_case", "*"),
    ("lob_admin", "*", "api_key", "*"),
    ("lob_admin", "*", "member", "*"),
    ("lob_admin", "*", "grant", "*"),
    ("lob_admin", "*", "lob_data", READ),
    ("lob_admin", "*", "usage", READ),
    ("lob_admin", "*", "break_glass", WRITE),
    ("lob_admin", "*", "agent", "*"),
    ("lob_admin", "*", "vector_store", "*"),
    ("lob_developer", "*", "use_case", "*"),
    ("lob_developer", "*", "api_key", "*"),
    ("lob_developer", "*", "member", READ),
    ("lob_developer", "*", "grant", READ),
    ("lob_developer", "*", "lob_data", READ),
    ("lob_developer", "*", "usage", READ),
    ("lob_developer", "*", "agent", "*"),
    ("lob_developer", "*", "vector_store", "*"),
    ("lob_viewer", "*", "use_case", READ),
    ("lob_viewer", "*", "api_key", READ),
    ("lob_viewer", "*", "member", READ),
    ("lob_viewer", "*", "grant", READ),
    ("lob_viewer", "*", "usage", READ),
    ("lob_viewer", "*", "agent", READ),
    ("lob_viewer", "*", "vector_store", READ),
)
