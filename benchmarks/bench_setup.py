"""Builds the benchmark's catalog and tenant through the project's own services, and prints a key.

Run by `gateway_load.py` with the benchmark database's environment (DATABASE_URL, REDIS_URL, ...):

    python benchmarks/bench_setup.py --provider openai_compatible --endpoint http://127.0.0.1:PORT/v1

The use case gets a monthly budget and the use case and LOB get rate limits, all far above what a run
can spend or send (`BUDGET_USD`, `RATE_PER_MINUTE`): nothing is refused, but every call goes through
the real admission script and settlement, as a call of a budgeted tenant does in production.

Prints one JSON line: {"api_key": ..., "alias": ..., "deployment": ..., "provider": ..., "limits": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALIAS = "bench-chat"
#: The alias of the upstream that answers after a delay (`--slow-endpoint`): real model latency.
SLOW_ALIAS = "bench-chat-slow"
UPSTREAM_KEY_VARIABLE = "BENCH_UPSTREAM_KEY"
#: A monthly budget no run comes near (a call costs about 0.00003 USD) ...
BUDGET_USD = Decimal("1000000")
#: ... and rate limits that never trigger (a run sends a few hundred requests per second at most).
RATE_PER_MINUTE = 10_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["openai_compatible", "sandbox"], required=True)
    parser.add_argument("--endpoint", default="", help="the upstream's base URL (openai_compatible only)")
    parser.add_argument(
        "--slow-endpoint", default="", help="a second upstream base URL, answering after a delay, as bench-chat-slow"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
    import django

    django.setup()

    from django.db import transaction

    from genai_platform.access.onboarding import lob_upsert
    from genai_platform.metering.services import budget_set, rate_limit_set
    from lob_tenants.models import ApiKey, UseCase
    from lob_tenants.services import api_key_issue, use_case_upsert
    from model_catalog.services import alias_upsert, deployment_upsert, model_upsert, provider_account_upsert

    with transaction.atomic():
        if args.provider == "openai_compatible":
            account = provider_account_upsert(
                name="bench-upstream",
                provider="openai_compatible",
                endpoint=args.endpoint,
                credentials_ref={"api_key": f"env:{UPSTREAM_KEY_VARIABLE}"},
                timeout_seconds=30.0,
            )
            provider_model_id = "bench-model"
        else:
            account = provider_account_upsert(name="bench-sandbox", provider="sandbox", region="local")
            provider_model_id = "sandbox-chat"
        model = model_upsert(name="bench-model", context_window=32768, max_output_tokens=4096)
        deployment = deployment_upsert(
            name=f"bench-{args.provider.replace('_', '-')}",
            account=account,
            model=model,
            provider_model_id=provider_model_id,
            input_price_per_million=Decimal("0.50"),
            output_price_per_million=Decimal("1.50"),
        )
        alias = alias_upsert(name=ALIAS, deployments=[deployment], description="Load benchmark chat alias")
        aliases = [alias]
        if args.slow_endpoint:
            slow_account = provider_account_upsert(
                name="bench-upstream-slow",
                provider="openai_compatible",
                endpoint=args.slow_endpoint,
                credentials_ref={"api_key": f"env:{UPSTREAM_KEY_VARIABLE}"},
                timeout_seconds=90.0,
            )
            slow_deployment = deployment_upsert(
                name="bench-slow",
                account=slow_account,
                model=model,
                provider_model_id="bench-model",
                input_price_per_million=Decimal("0.50"),
                output_price_per_million=Decimal("1.50"),
            )
            aliases.append(alias_upsert(name=SLOW_ALIAS, deployments=[slow_deployment], description="Slow upstream"))
        lob = lob_upsert(slug="bench-lob", name="Benchmark LOB", business_owner="Benchmarks", cost_center="CC-BENCH")
        use_case = use_case_upsert(
            lob=lob,
            slug="bench-load",
            name="Gateway load benchmark",
            aliases=aliases,
            status=UseCase.Status.APPROVED,
        )
        approval = _governance_approve(use_case, aliases)
        # After the approval: a budget cap in it would replace the use case's budget.
        budget_set(use_case=use_case, monthly_limit_usd=BUDGET_USD, hard_limit=True, actor="benchmark")
        for scope in ({"use_case": use_case}, {"lob": lob}):
            rate_limit_set(
                **scope, requests_per_minute=RATE_PER_MINUTE, tokens_per_minute=RATE_PER_MINUTE, actor="benchmark"
            )
        _, plaintext = api_key_issue(use_case=use_case, name="bench key", environment=ApiKey.Environment.PRODUCTION)
    world = {"api_key": plaintext, "alias": alias.name, "deployment": deployment.name, "provider": account.provider}
    if args.slow_endpoint:
        world["slow_alias"] = SLOW_ALIAS
    world["limits"] = {
        "use_case_budget_usd": str(BUDGET_USD),
        "rate_limits": f"use case and LOB: {RATE_PER_MINUTE} requests/min and {RATE_PER_MINUTE} tokens/min",
    }
    print(json.dumps({**world, "governance": approval}))
    return 0


def _governance_approve(use_case: object, aliases: list[object]) -> str:
    """Where the governance workflow exists, the board's current approval of the use case and of the
    alias for every data classification (what a production key needs), issued as the tests do."""
    try:
        from governance.services.workflow import approval_issue, model_approval_set
        from lob_tenants.models import DataClassification
    except ImportError:
        return "use case status only (no governance workflow in this checkout)"
    for alias in aliases:
        model_approval_set(alias=alias, classifications=list(DataClassification.values), actor="benchmark")
    approval_issue(use_case=use_case, actor="benchmark")
    return "approval issued"


if __name__ == "__main__":
    sys.exit(main())
