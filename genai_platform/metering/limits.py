"""Rate limits and budget reservations, enforced atomically in Redis.

Admission is one Lua script over every scope that applies to a call (its key, use case and LOB):
it checks all request and token windows and all budgets, and only if every one has room does it
count the request and reserve the call's worst-case cost. Concurrent calls therefore cannot
overrun a budget or a limit, whichever gateway process they reach. After the call, settlement
replaces the reservation by the actual cost and tokens.

Money is counted in integer nano-dollars (1e-9 USD) so Redis arithmetic stays exact.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.conf import settings

NANOS_PER_USD = Decimal(1_000_000_000)
WINDOW_SECONDS = 60
BUDGET_KEY_TTL_SECONDS = 40 * 86_400
#: Retry-After of a call refused because its budget counter could not be rebuilt yet.
BUDGET_REBUILD_RETRY_SECONDS = 5


def to_nanos(usd: Decimal) -> int:
    return int((usd * NANOS_PER_USD).to_integral_value())


def from_nanos(nanos: int) -> Decimal:
    return Decimal(nanos) / NANOS_PER_USD


def current_month(now: dt.datetime | None = None) -> str:
    """The budget month ("2026-11") in METERING_TIMEZONE."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(settings.METERING_TIMEZONE)).strftime("%Y-%m")


@dataclass(frozen=True)
class RateScope:
    name: str  # "key", "use_case" or "lob"
    id: int
    requests_per_minute: int | None
    tokens_per_minute: int | None


@dataclass(frozen=True)
class BudgetScope:
    budget_id: int
    name: str  # "use_case" or "lob"
    id: int
    limit_nanos: int
    hard: bool
    thresholds: tuple[int, ...]


@dataclass(frozen=True)
class LimitPolicy:
    rates: tuple[RateScope, ...] = ()
    budgets: tuple[BudgetScope, ...] = ()


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str, retry_after: int | None = None, scope: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.scope = scope


@dataclass
class Admission:
    """What admission counted and reserved, to settle after the call."""

    month: str
    window: int
    reserved_nanos: int
    counted_tokens: int
    rate_headers: dict[str, str] = field(default_factory=dict)
    settled: bool = False


@dataclass(frozen=True)
class Settlement:
    #: Thresholds (percent) of budgets that this call's spend crossed: budget id -> thresholds.
    crossed: dict[int, list[int]]


def _rate_keys(scope: RateScope, window: int) -> tuple[str, str]:
    base = f"genai:rl:{scope.name}:{scope.id}:{window}"
    return f"{base}:req", f"{base}:tok"


def _budget_key(scope: BudgetScope, month: str) -> str:
    return f"genai:budget:{scope.name}:{scope.id}:{month}"


# KEYS: per rate scope (requests key, tokens key), then one key per budget.
# ARGV: rate count, budget count, window ttl, tokens, then per rate scope (rpm, tpm; 0 = none),
#       then per budget (limit, hard 0/1, reserve).
_ADMIT = """
local n_rates, n_budgets, ttl, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget_base = n_rates * 2
for b = 1, n_budgets do
  if redis.call('EXISTS', KEYS[budget_base + b]) == 0 then return {'missing', b} end
end
local requests, used_tokens = {}, {}
for r = 1, n_rates do
  local rpm, tpm = tonumber(ARGV[3 + r * 2]), tonumber(ARGV[4 + r * 2])
  requests[r] = tonumber(redis.call('GET', KEYS[r * 2 - 1]) or '0')
  used_tokens[r] = tonumber(redis.call('GET', KEYS[r * 2]) or '0')
  if rpm > 0 and requests[r] + 1 > rpm then return {'requests', r} end
  if tpm > 0 and used_tokens[r] + tokens > tpm then return {'tokens', r} end
end
local arg_base = 4 + n_rates * 2
for b = 1, n_budgets do
  local limit = tonumber(ARGV[arg_base + b * 3 - 2])
  local hard = tonumber(ARGV[arg_base + b * 3 - 1])
  local reserve = tonumber(ARGV[arg_base + b * 3])
  local spent = tonumber(redis.call('GET', KEYS[budget_base + b]))
  if hard == 1 and spent + reserve > limit then return {'budget', b} end
end
local counts = {}
for r = 1, n_rates do
  counts[r * 2 - 1] = redis.call('INCR', KEYS[r * 2 - 1])
  counts[r * 2] = redis.call('INCRBY', KEYS[r * 2], tokens)
  redis.call('EXPIRE', KEYS[r * 2 - 1], ttl)
  redis.call('EXPIRE', KEYS[r * 2], ttl)
end
for b = 1, n_budgets do
  redis.call('INCRBY', KEYS[budget_base + b], ARGV[arg_base + b * 3])
end
return {'ok', counts}
"""

# KEYS: per rate scope the tokens key, then one key per budget; ARGV: rate count, token delta,
# cost delta, then per budget its limit and thresholds as a comma list, and the alert key prefix.
_SETTLE = """
local n_rates, token_delta, cost_delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for r = 1, n_rates do
  if redis.call('EXISTS', KEYS[r]) == 1 then redis.call('INCRBY', KEYS[r], token_delta) end
end
local crossed = {}
local b = 1
for i = n_rates + 1, #KEYS do
  -- A counter Redis lost is rebuilt from the ledger (this call included) before the next admission:
  -- settling into a fresh key would make it look rebuilt at nearly zero.
  local spent = false
  if redis.call('EXISTS', KEYS[i]) == 1 then spent = redis.call('INCRBY', KEYS[i], cost_delta) end
  local limit = tonumber(ARGV[3 + b * 3 - 2])
  local alert_prefix = ARGV[3 + b * 3]
  for threshold in string.gmatch(ARGV[3 + b * 3 - 1], '([^,]+)') do
    if spent and limit > 0 and spent * 100 >= limit * tonumber(threshold) then
      if redis.call('SET', alert_prefix .. threshold, '1', 'NX', 'EX', 3456000) then
        table.insert(crossed, b)
        table.insert(crossed, tonumber(threshold))
      end
    end
  end
  b = b + 1
end
return crossed
"""


class LimitStore(Protocol):
    def admit(self, policy: LimitPolicy, *, tokens: int, reserve_nanos: int, rebuild: Any) -> Admission: ...

    def settle(
        self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int
    ) -> Settlement: ...

    def forget_budgets(self) -> None: ...


class RedisLimitStore:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)

    def admit(self, policy: LimitPolicy, *, tokens: int, reserve_nanos: int, rebuild: Any) -> Admission:
        now = time.time()
        window, month = int(now // WINDOW_SECONDS), current_month()
        keys: list[str] = []
        args: list[Any] = [len(policy.rates), len(policy.budgets), WINDOW_SECONDS * 2, tokens]
        for scope in policy.rates:
            keys.extend(_rate_keys(scope, window))
            args.extend([scope.requests_per_minute or 0, scope.tokens_per_minute or 0])
        for budget in policy.budgets:
            keys.append(_budget_key(budget, month))
        for budget in policy.budgets:
            args.extend([budget.limit_nanos, int(budget.hard), reserve_nanos])
        for _ in range(len(policy.budgets) + 1):
            outcome = self._admit(keys=keys, args=args)
            if outcome[0] != "missing":
                break
            budget = policy.budgets[int(outcome[1]) - 1]
            # Redis lost this month's counter (or the month just began): rebuild it from the ledger and
            # the buffered records before admitting anything. Until that succeeds, refuse (fail closed).
            try:
                spent = rebuild(budget, month)
            except Exception as exc:
                raise LimitExceeded(
                    "budget_unavailable",
                    f"The budget for this {_label(budget.name)} is being recounted; retry in a few seconds.",
                    BUDGET_REBUILD_RETRY_SECONDS,
                    budget.name,
                ) from exc
            self._redis.set(_budget_key(budget, month), spent, nx=True, ex=BUDGET_KEY_TTL_SECONDS)
        verdict = outcome[0]
        retry_after = max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS))
        if verdict == "requests":
            scope = policy.rates[int(outcome[1]) - 1]
            raise LimitExceeded(
                "rate_limit_exceeded",
                f"Rate limit of {scope.requests_per_minute} requests per minute reached for this {_label(scope.name)}.",
                retry_after,
                scope.name,
            )
        if verdict == "tokens":
            scope = policy.rates[int(outcome[1]) - 1]
            raise LimitExceeded(
                "rate_limit_exceeded",
                f"Rate limit of {scope.tokens_per_minute} tokens per minute reached for this {_label(scope.name)} "
                f"(this request needs about {tokens}).",
                retry_after,
                scope.name,
            )
        if verdict == "budget":
            budget = policy.budgets[int(outcome[1]) - 1]
            raise LimitExceeded(
                "budget_exceeded",
                f"The monthly budget of {from_nanos(budget.limit_nanos):.2f} USD for this {_label(budget.name)} "
                "would be exceeded by this request.",
                None,
                budget.name,
            )
        counts = [int(c) for c in outcome[1]]
        return Admission(
            month=month,
            window=window,
            reserved_nanos=reserve_nanos,
            counted_tokens=tokens,
            rate_headers=_rate_headers(policy, counts, tokens, retry_after),
        )

    def settle(self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int) -> Settlement:
        if admission.settled:
            return Settlement(crossed={})
        admission.settled = True
        keys = [_rate_keys(scope, admission.window)[1] for scope in policy.rates]
        keys += [_budget_key(budget, admission.month) for budget in policy.budgets]
        args: list[Any] = [
            len(policy.rates),
            actual_tokens - admission.counted_tokens,
            actual_nanos - admission.reserved_nanos,
        ]
        for budget in policy.budgets:
            args.extend(
                [
                    budget.limit_nanos,
                    ",".join(str(t) for t in budget.thresholds) or "0",
                    f"genai:budget-alert:{budget.budget_id}:{admission.month}:",
                ]
            )
        if not keys:
            return Settlement(crossed={})
        flat = self._settle(keys=keys, args=args)
        crossed: dict[int, list[int]] = {}
        for index, threshold in zip(flat[::2], flat[1::2], strict=True):
            crossed.setdefault(policy.budgets[int(index) - 1].budget_id, []).append(int(threshold))
        return Settlement(crossed=crossed)

    def forget_budgets(self) -> None:
        for key in self._redis.scan_iter("genai:budget:*"):
            self._redis.delete(key)


class LocalLimitStore:
    """The same rules in one process, for the embedded default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._alerts: set[str] = set()

    def admit(self, policy: LimitPolicy, *, tokens: int, reserve_nanos: int, rebuild: Any) -> Admission:
        now = time.time()
        window, month = int(now // WINDOW_SECONDS), current_month()
        retry_after = max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS))
        with self._lock:
            for budget in policy.budgets:
                key = _budget_key(budget, month)
                if key not in self._counters:
                    self._counters[key] = int(rebuild(budget, month))
            for scope in policy.rates:
                request_key, token_key = _rate_keys(scope, window)
                if scope.requests_per_minute and self._counters.get(request_key, 0) + 1 > scope.requests_per_minute:
                    raise LimitExceeded(
                        "rate_limit_exceeded",
                        f"Rate limit of {scope.requests_per_minute} requests per minute reached for this "
                        f"{_label(scope.name)}.",
                        retry_after,
                        scope.name,
                    )
                if scope.tokens_per_minute and self._counters.get(token_key, 0) + tokens > scope.tokens_per_minute:
                    raise LimitExceeded(
                        "rate_limit_exceeded",
                        f"Rate limit of {scope.tokens_per_minute} tokens per minute reached for this "
                        f"{_label(scope.name)}.",
                        retry_after,
                        scope.name,
                    )
            for budget in policy.budgets:
                if budget.hard and self._counters[_budget_key(budget, month)] + reserve_nanos > budget.limit_nanos:
                    raise LimitExceeded(
                        "budget_exceeded",
                        f"The monthly budget of {from_nanos(budget.limit_nanos):.2f} USD for this "
                        f"{_label(budget.name)} would be exceeded by this request.",
                        None,
                        budget.name,
                    )
            counts = []
            for scope in policy.rates:
                request_key, token_key = _rate_keys(scope, window)
                self._counters[request_key] = self._counters.get(request_key, 0) + 1
                self._counters[token_key] = self._counters.get(token_key, 0) + tokens
                counts += [self._counters[request_key], self._counters[token_key]]
            for budget in policy.budgets:
                self._counters[_budget_key(budget, month)] += reserve_nanos
        return Admission(month, window, reserve_nanos, tokens, _rate_headers(policy, counts, tokens, retry_after))

    def settle(self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int) -> Settlement:
        if admission.settled:
            return Settlement(crossed={})
        admission.settled = True
        crossed: dict[int, list[int]] = {}
        with self._lock:
            for scope in policy.rates:
                token_key = _rate_keys(scope, admission.window)[1]
                if token_key in self._counters:
                    self._counters[token_key] += actual_tokens - admission.counted_tokens
            for budget in policy.budgets:
                key = _budget_key(budget, admission.month)
                self._counters[key] = self._counters.get(key, 0) + actual_nanos - admission.reserved_nanos
                for threshold in budget.thresholds:
                    alert = f"{budget.budget_id}:{admission.month}:{threshold}"
                    if self._counters[key] * 100 >= budget.limit_nanos * threshold and alert not in self._alerts:
                        self._alerts.add(alert)
                        crossed.setdefault(budget.budget_id, []).append(threshold)
        return Settlement(crossed=crossed)

    def forget_budgets(self) -> None:
        with self._lock:
            for key in [k for k in self._counters if k.startswith("genai:budget:")]:
                del self._counters[key]


def _label(scope: str) -> str:
    return {"key": "API key", "use_case": "use case", "lob": "line of business"}.get(scope, scope)


def _rate_headers(policy: LimitPolicy, counts: list[int], tokens: int, reset_seconds: int) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers for the tightest limit that applies."""
    headers: dict[str, str] = {}
    request_room = [
        (scope.requests_per_minute - counts[i * 2], scope.requests_per_minute)
        for i, scope in enumerate(policy.rates)
        if scope.requests_per_minute
    ]
    token_room = [
        (scope.tokens_per_minute - counts[i * 2 + 1], scope.tokens_per_minute)
        for i, scope in enumerate(policy.rates)
        if scope.tokens_per_minute
    ]
    if request_room:
        remaining, limit = min(request_room)
        headers["x-ratelimit-limit-requests"] = str(limit)
        headers["x-ratelimit-remaining-requests"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-requests"] = f"{reset_seconds}s"
    if token_room:
        remaining, limit = min(token_room)
        headers["x-ratelimit-limit-tokens"] = str(limit)
        headers["x-ratelimit-remaining-tokens"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-tokens"] = f"{reset_seconds}s"
    return headers


@functools.cache
def limit_store() -> LimitStore:
    if settings.REDIS_URL:
        return RedisLimitStore(settings.REDIS_URL)
    return LocalLimitStore()
