"""Rate limits and budget reservations, enforced atomically in Redis.

Admission is one Lua script over every scope that applies to a call (its key, use case and LOB):
it checks all request and token windows and all budgets, and only if every one has room does it
count the request and reserve the call's worst-case cost. Concurrent calls therefore cannot
overrun a budget or a limit, whichever gateway process they reach. After the call, settlement
replaces the reservation by the actual cost and tokens.

Rate limits are sliding windows: a call is admitted only if the calls (tokens) counted in the
last 60 seconds leave room, whatever the clock minute. Each window is a Redis hash of one-second
buckets; a bucket counts while it is less than 61 seconds old, so any 60-second span is covered
and the limit holds in every one of them (one second of extra caution, never one of slack). The
time is Redis's own (`TIME` inside the script), so gateways with skewed clocks share one window.

Money is counted in integer nano-dollars (1e-9 USD) so Redis arithmetic stays exact.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
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


def seconds_until_next_month(now: dt.datetime | None = None) -> int:
    """Seconds until the budget month resets (midnight of the 1st in METERING_TIMEZONE): a refused
    call's Retry-After, since a monthly budget has room again only then."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(settings.METERING_TIMEZONE))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    reset = dt.datetime(year, month, 1, tzinfo=local.tzinfo)
    return max(1, math.ceil((reset - local).total_seconds()))


def format_usd(nanos: int) -> str:
    """Money as people read it, never rounded to nothing: "12.50 USD", "0.000587 USD"."""
    amount = from_nanos(nanos).normalize()
    if amount == amount.quantize(Decimal("0.01")):
        return f"{amount:.2f} USD"
    return f"{amount:f} USD"


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
    def __init__(
        self,
        code: str,
        message: str,
        retry_after: int | None = None,
        scope: str = "",
        rate_headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.scope = scope
        self.rate_headers = rate_headers or {}

    @property
    def headers(self) -> dict[str, str]:
        """The response headers of the refusal: the x-ratelimit-* state and Retry-After."""
        headers = dict(self.rate_headers)
        if self.retry_after:
            headers["Retry-After"] = str(self.retry_after)
        return headers


@dataclass
class Admission:
    """What admission counted and reserved, to settle after the call."""

    month: str
    #: The second (Unix time) whose rate-window bucket counted this call's tokens.
    window: int
    reserved_nanos: int
    counted_tokens: int
    rate_headers: dict[str, str] = field(default_factory=dict)
    settled: bool = False


@dataclass(frozen=True)
class Settlement:
    #: Thresholds (percent) of budgets that this call's spend crossed: budget id -> thresholds.
    crossed: dict[int, list[int]]


def _rate_keys(scope: RateScope) -> tuple[str, str]:
    """The scope's sliding windows (hashes of one-second buckets) for requests and tokens."""
    base = f"genai:rl2:{scope.name}:{scope.id}"
    return f"{base}:req", f"{base}:tok"


@dataclass(frozen=True)
class RateUsage:
    """One scope's windows after admission: what they hold, and in how many milliseconds their
    oldest counted bucket leaves the window (when room grows again)."""

    requests: int
    tokens: int
    requests_reset_ms: int
    tokens_reset_ms: int


def _budget_key(scope: BudgetScope, month: str) -> str:
    return f"genai:budget:{scope.name}:{scope.id}:{month}"


# KEYS: per rate scope (requests window, tokens window), then one key per budget.
# ARGV: rate count, budget count, window ttl, tokens, then per rate scope (rpm, tpm; 0 = none),
#       then per budget (limit, hard 0/1, reserve).
# Returns {'ok', usage, second} or {'requests'|'tokens', scope index, retry ms, usage} or
# {'budget', index} or {'missing', index}; usage is per scope: requests, tokens, and the ms until
# each window's oldest bucket leaves it.
_ADMIT = """
local n_rates, n_budgets, ttl, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget_base = n_rates * 2
for b = 1, n_budgets do
  if redis.call('EXISTS', KEYS[budget_base + b]) == 0 then return {'missing', b} end
end
local clock = redis.call('TIME')
local second = tonumber(clock[1])
local now_ms = second * 1000 + math.floor(tonumber(clock[2]) / 1000)
local horizon = second - WINDOW
local function window_state(key)
  local flat = redis.call('HGETALL', key)
  local total, buckets, expired = 0, {}, {}
  for i = 1, #flat, 2 do
    local bucket, amount = tonumber(flat[i]), tonumber(flat[i + 1])
    if bucket < horizon then
      table.insert(expired, flat[i])
    else
      total = total + amount
      table.insert(buckets, {bucket, amount})
    end
  end
  if #expired > 0 then redis.call('HDEL', key, unpack(expired)) end
  table.sort(buckets, function(x, y) return x[1] < y[1] end)
  return total, buckets
end
local function wait_ms(buckets, needed)
  local freed = 0
  for _, entry in ipairs(buckets) do
    freed = freed + entry[2]
    if freed >= needed then return (entry[1] + WINDOW + 1) * 1000 - now_ms end
  end
  return WINDOW * 1000
end
local function oldest_ms(buckets)
  if #buckets == 0 then return 0 end
  return (buckets[1][1] + WINDOW + 1) * 1000 - now_ms
end
local usage, refusal = {}, nil
for r = 1, n_rates do
  local rpm, tpm = tonumber(ARGV[3 + r * 2]), tonumber(ARGV[4 + r * 2])
  local requests, request_buckets = window_state(KEYS[r * 2 - 1])
  local used_tokens, token_buckets = window_state(KEYS[r * 2])
  if refusal == nil and rpm > 0 and requests + 1 > rpm then
    refusal = {'requests', r, wait_ms(request_buckets, requests + 1 - rpm)}
  end
  if refusal == nil and tpm > 0 and used_tokens + tokens > tpm then
    refusal = {'tokens', r, wait_ms(token_buckets, used_tokens + tokens - tpm)}
  end
  table.insert(usage, requests)
  table.insert(usage, used_tokens)
  table.insert(usage, oldest_ms(request_buckets))
  table.insert(usage, oldest_ms(token_buckets))
end
if refusal ~= nil then
  table.insert(refusal, usage)
  return refusal
end
local arg_base = 4 + n_rates * 2
for b = 1, n_budgets do
  local limit = tonumber(ARGV[arg_base + b * 3 - 2])
  local hard = tonumber(ARGV[arg_base + b * 3 - 1])
  local reserve = tonumber(ARGV[arg_base + b * 3])
  local spent = tonumber(redis.call('GET', KEYS[budget_base + b]))
  if hard == 1 and spent + reserve > limit then return {'budget', b} end
end
for r = 1, n_rates do
  redis.call('HINCRBY', KEYS[r * 2 - 1], second, 1)
  redis.call('HINCRBY', KEYS[r * 2], second, tokens)
  redis.call('EXPIRE', KEYS[r * 2 - 1], ttl)
  redis.call('EXPIRE', KEYS[r * 2], ttl)
  local base = (r - 1) * 4
  usage[base + 1] = usage[base + 1] + 1
  usage[base + 2] = usage[base + 2] + tokens
  if usage[base + 3] == 0 then usage[base + 3] = (WINDOW + 1) * 1000 - (now_ms - second * 1000) end
  if usage[base + 4] == 0 then usage[base + 4] = usage[base + 3] end
end
for b = 1, n_budgets do
  redis.call('INCRBY', KEYS[budget_base + b], ARGV[arg_base + b * 3])
end
return {'ok', usage, second}
""".replace("WINDOW", str(WINDOW_SECONDS))

# KEYS: per rate scope the tokens window, then one key per budget; ARGV: rate count, token delta,
# cost delta, the admission's bucket second, then per budget its limit and thresholds as a comma
# list, and the alert key prefix.
_SETTLE = """
local n_rates, token_delta, cost_delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = ARGV[4]
for r = 1, n_rates do
  if redis.call('HEXISTS', KEYS[r], bucket) == 1 then redis.call('HINCRBY', KEYS[r], bucket, token_delta) end
end
local crossed = {}
local b = 1
for i = n_rates + 1, #KEYS do
  -- A counter Redis lost is rebuilt from the ledger (this call included) before the next admission:
  -- settling into a fresh key would make it look rebuilt at nearly zero.
  local spent = false
  if redis.call('EXISTS', KEYS[i]) == 1 then spent = redis.call('INCRBY', KEYS[i], cost_delta) end
  local limit = tonumber(ARGV[4 + b * 3 - 2])
  local alert_prefix = ARGV[4 + b * 3]
  for threshold in string.gmatch(ARGV[4 + b * 3 - 1], '([^,]+)') do
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

        self.url = url
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)

    def admit(self, policy: LimitPolicy, *, tokens: int, reserve_nanos: int, rebuild: Any) -> Admission:
        month = current_month()
        keys: list[str] = []
        args: list[Any] = [len(policy.rates), len(policy.budgets), WINDOW_SECONDS * 2, tokens]
        for scope in policy.rates:
            keys.extend(_rate_keys(scope))
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
        if verdict in ("requests", "tokens"):
            usage = _usage_of([int(value) for value in outcome[3]])
            raise _rate_refusal(policy, verdict, int(outcome[1]) - 1, int(outcome[2]), usage, tokens)
        if verdict == "budget":
            raise _budget_refusal(policy.budgets[int(outcome[1]) - 1])
        usage = _usage_of([int(value) for value in outcome[1]])
        return Admission(
            month=month,
            window=int(outcome[2]),
            reserved_nanos=reserve_nanos,
            counted_tokens=tokens,
            rate_headers=_rate_headers(policy, usage),
        )

    def settle(self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int) -> Settlement:
        call = self.settle_call(policy, admission, actual_tokens=actual_tokens, actual_nanos=actual_nanos)
        return call.run() if call is not None else Settlement(crossed={})

    def settle_call(
        self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int
    ) -> SettleCall | None:
        """The settlement as a script call to run later, alone or in a pipeline with other commands;
        None when there is nothing to settle. The admission counts as settled from here on."""
        if admission.settled:
            return None
        admission.settled = True
        keys = [_rate_keys(scope)[1] for scope in policy.rates]
        keys += [_budget_key(budget, admission.month) for budget in policy.budgets]
        if not keys:
            return None
        args: list[Any] = [
            len(policy.rates),
            actual_tokens - admission.counted_tokens,
            actual_nanos - admission.reserved_nanos,
            admission.window,
        ]
        for budget in policy.budgets:
            args.extend(
                [
                    budget.limit_nanos,
                    ",".join(str(t) for t in budget.thresholds) or "0",
                    f"genai:budget-alert:{budget.budget_id}:{admission.month}:",
                ]
            )
        return SettleCall(store=self, policy=policy, keys=keys, args=args)

    def forget_budgets(self) -> None:
        for key in self._redis.scan_iter("genai:budget:*"):
            self._redis.delete(key)


@dataclass(frozen=True)
class SettleCall:
    """One settlement script call. `run` sends it alone; `queue` puts it on a caller's pipeline (the
    usage buffer's append, so that settling and buffering the call's record share one round trip)
    and `result` reads its reply from that pipeline's results."""

    store: RedisLimitStore
    policy: LimitPolicy
    keys: list[str]
    args: list[Any]

    @property
    def redis_url(self) -> str:
        return self.store.url

    def run(self) -> Settlement:
        return self._crossed(self.store._settle(keys=self.keys, args=self.args))

    def queue(self, pipe: Any) -> None:
        # EVALSHA without the pipeline's script bookkeeping, which costs a SCRIPT EXISTS per execute.
        pipe.evalsha(self.store._settle.sha, len(self.keys), *self.keys, *self.args)

    def result(self, reply: Any) -> Settlement:
        """The settlement from its pipelined reply (`execute(raise_on_error=False)`)."""
        from redis.exceptions import NoScriptError

        if isinstance(reply, NoScriptError):  # Redis lost its scripts (a restart): nothing ran, so run it now
            return self.run()
        if isinstance(reply, Exception):
            raise reply
        return self._crossed(reply)

    def _crossed(self, flat: list[Any]) -> Settlement:
        crossed: dict[int, list[int]] = {}
        for index, threshold in zip(flat[::2], flat[1::2], strict=True):
            crossed.setdefault(self.policy.budgets[int(index) - 1].budget_id, []).append(int(threshold))
        return Settlement(crossed=crossed)


class LocalLimitStore:
    """The same rules in one process, for the embedded default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        #: Sliding windows: key -> {second: amount}, as the Redis hashes.
        self._windows: dict[str, dict[int, int]] = {}
        self._alerts: set[str] = set()

    def _window(self, key: str, second: int) -> dict[int, int]:
        buckets = self._windows.setdefault(key, {})
        for bucket in [b for b in buckets if b < second - WINDOW_SECONDS]:
            del buckets[bucket]
        return buckets

    def admit(self, policy: LimitPolicy, *, tokens: int, reserve_nanos: int, rebuild: Any) -> Admission:
        now = time.time()
        second, month = int(now), current_month()
        with self._lock:
            for budget in policy.budgets:
                key = _budget_key(budget, month)
                if key not in self._counters:
                    self._counters[key] = int(rebuild(budget, month))
            windows = [tuple(self._window(key, second) for key in _rate_keys(scope)) for scope in policy.rates]
            usage = [
                RateUsage(
                    requests=sum(requests.values()),
                    tokens=sum(used.values()),
                    requests_reset_ms=_oldest_ms(requests, now),
                    tokens_reset_ms=_oldest_ms(used, now),
                )
                for requests, used in windows
            ]
            for index, (scope, (requests, used), state) in enumerate(zip(policy.rates, windows, usage, strict=True)):
                if scope.requests_per_minute and state.requests + 1 > scope.requests_per_minute:
                    wait = _wait_ms(requests, state.requests + 1 - scope.requests_per_minute, now)
                    raise _rate_refusal(policy, "requests", index, wait, usage, tokens)
                if scope.tokens_per_minute and state.tokens + tokens > scope.tokens_per_minute:
                    wait = _wait_ms(used, state.tokens + tokens - scope.tokens_per_minute, now)
                    raise _rate_refusal(policy, "tokens", index, wait, usage, tokens)
            for budget in policy.budgets:
                if budget.hard and self._counters[_budget_key(budget, month)] + reserve_nanos > budget.limit_nanos:
                    raise _budget_refusal(budget)
            for requests, used in windows:
                requests[second] = requests.get(second, 0) + 1
                used[second] = used.get(second, 0) + tokens
            usage = [
                RateUsage(
                    requests=sum(requests.values()),
                    tokens=sum(used.values()),
                    requests_reset_ms=_oldest_ms(requests, now),
                    tokens_reset_ms=_oldest_ms(used, now),
                )
                for requests, used in windows
            ]
            for budget in policy.budgets:
                self._counters[_budget_key(budget, month)] += reserve_nanos
        return Admission(month, second, reserve_nanos, tokens, _rate_headers(policy, usage))

    def settle(self, policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_nanos: int) -> Settlement:
        if admission.settled:
            return Settlement(crossed={})
        admission.settled = True
        crossed: dict[int, list[int]] = {}
        with self._lock:
            for scope in policy.rates:
                used = self._windows.get(_rate_keys(scope)[1], {})
                if admission.window in used:
                    used[admission.window] += actual_tokens - admission.counted_tokens
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


def _oldest_ms(buckets: dict[int, int], now: float) -> int:
    """Milliseconds until the window's oldest bucket leaves it (0 for an empty window)."""
    if not buckets:
        return 0
    return max(0, int((min(buckets) + WINDOW_SECONDS + 1 - now) * 1000))


def _wait_ms(buckets: dict[int, int], needed: int, now: float) -> int:
    """Milliseconds until `needed` of the window's amount has left it."""
    freed = 0
    for bucket in sorted(buckets):
        freed += buckets[bucket]
        if freed >= needed:
            return max(0, int((bucket + WINDOW_SECONDS + 1 - now) * 1000))
    return WINDOW_SECONDS * 1000


def _usage_of(flat: list[int]) -> list[RateUsage]:
    return [RateUsage(*flat[i : i + 4]) for i in range(0, len(flat), 4)]


def _rate_refusal(
    policy: LimitPolicy, verdict: str, index: int, wait_ms: int, usage: list[RateUsage], tokens: int
) -> LimitExceeded:
    scope = policy.rates[index]
    if verdict == "requests":
        what = f"{scope.requests_per_minute} requests per minute"
        needs = ""
    else:
        what = f"{scope.tokens_per_minute} tokens per minute"
        needs = f" (this request needs about {tokens})"
    return LimitExceeded(
        "rate_limit_exceeded",
        f"Rate limit of {what} reached for this {_label(scope.name)}{needs}; "
        f"retry in {max(1, math.ceil(wait_ms / 1000))} s.",
        max(1, math.ceil(wait_ms / 1000)),
        scope.name,
        rate_headers=_rate_headers(policy, usage),
    )


def _budget_refusal(budget: BudgetScope) -> LimitExceeded:
    return LimitExceeded(
        "budget_exceeded",
        f"The monthly budget of {format_usd(budget.limit_nanos)} for this {_label(budget.name)} "
        "would be exceeded by this request.",
        seconds_until_next_month(),
        budget.name,
    )


def _label(scope: str) -> str:
    return {"key": "API key", "use_case": "use case", "lob": "line of business"}.get(scope, scope)


def _rate_headers(policy: LimitPolicy, usage: list[RateUsage]) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers for the tightest limit that applies; `reset` is when the
    window's oldest counted call leaves it, i.e. when `remaining` grows again."""
    headers: dict[str, str] = {}
    request_room = [
        (scope.requests_per_minute - state.requests, scope.requests_per_minute, state.requests_reset_ms)
        for scope, state in zip(policy.rates, usage, strict=True)
        if scope.requests_per_minute
    ]
    token_room = [
        (scope.tokens_per_minute - state.tokens, scope.tokens_per_minute, state.tokens_reset_ms)
        for scope, state in zip(policy.rates, usage, strict=True)
        if scope.tokens_per_minute
    ]
    if request_room:
        remaining, limit, reset_ms = min(request_room)
        headers["x-ratelimit-limit-requests"] = str(limit)
        headers["x-ratelimit-remaining-requests"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-requests"] = _duration(reset_ms)
    if token_room:
        remaining, limit, reset_ms = min(token_room)
        headers["x-ratelimit-limit-tokens"] = str(limit)
        headers["x-ratelimit-remaining-tokens"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-tokens"] = _duration(reset_ms)
    return headers


def _duration(milliseconds: int) -> str:
    """A duration as OpenAI writes it in x-ratelimit-reset-*: "20ms", "1.5s", "59.996s"."""
    if milliseconds < 1000:
        return f"{milliseconds}ms"
    return f"{milliseconds / 1000:.3f}".rstrip("0").rstrip(".") + "s"


@functools.cache
def limit_store() -> LimitStore:
    if settings.REDIS_URL:
        return RedisLimitStore(settings.REDIS_URL)
    return LocalLimitStore()
