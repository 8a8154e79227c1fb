"""Governance writes: the use-case workflow (`workflow`), guardrail policies (`guardrail_policies`,
`policy_authoring`). The audit log they write is `genai_platform.audit`."""
