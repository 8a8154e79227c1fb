"""Guardrail benchmark: precision and recall per check on the labelled set, and input-check latency.

    .venv/bin/python benchmarks/guardrails/run.py [--errors] [--json PATH] [--runs N]

Scoring. A case is predicted positive when its check fires under the bench policy below. For
personal data a positive case counts as found only when a finding of its labelled entity type is
reported, and a negative case counts as a false positive when any personal-data finding is
reported. "Structured identifiers" pools the six entity types. The injection false-positive rate is
over the benign prompts of the set.

Latency is wall-clock time of `GuardrailEngine.evaluate` with every input rule of the bench policy
(size, secrets, personal data, denied words, injection, denied topics) on a 2,000-character prompt,
after warm-up, and the CPU time of each input check alone on distinct business prompts. Exit status 1
when an accuracy target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from governance.guardrails import (
    PII_ENTITIES,
    Action,
    Check,
    CheckRule,
    DeniedTopic,
    Direction,
    GuardrailEngine,
    GuardrailPolicy,
    Scope,
)
from governance.guardrails.policy import ADDRESS_ENTITIES, IDENTITY_DOCUMENT_ENTITIES, KNOWN_PII_ENTITIES

EVAL_SET = Path(__file__).with_name("eval_set.jsonl")
PERSONAL_CONTEXT_SET = Path(__file__).with_name("personal_context_set.jsonl")
#: Written after the detectors were tuned on the two sets above, never used to change one
#: (make_holdout_set.py): its rows are the estimate for text nobody tuned for.
HOLDOUT_SET = Path(__file__).with_name("holdout_set.jsonl")
#: Written and committed before any detector ran on it (make_holdout_set_2.py), after the first
#: holdout had been read: its rows are the estimate for text nobody tuned for.
HOLDOUT_SET_2 = Path(__file__).with_name("holdout_set_2.jsonl")
#: Written after the third pass's rules, whose author had written holdout_set_2 (make_holdout_set_3.py).
HOLDOUT_SET_3 = Path(__file__).with_name("holdout_set_3.jsonl")
#: Instructions in documents and tool outputs only, committed before its first run (make_holdout_set_4.py);
#: the structural rules of indirect.py were then written against it, so its "after" numbers are tuning numbers.
HOLDOUT_SET_4 = Path(__file__).with_name("holdout_set_4.jsonl")
#: Per category of the personal/context set: the finding types that count (a negative case is a
#: false positive when any of them is found; None means any finding of the check).
CATEGORY_TYPES: dict[str, tuple[str, ...] | None] = {
    "names": ("PERSON",),
    "addresses": ADDRESS_ENTITIES,
    "dates_of_birth": ("DATE_OF_BIRTH",),
    "identity_documents": IDENTITY_DOCUMENT_ENTITIES,
    "keys": None,
    "indirect:documents": None,
    "indirect:tool_outputs": None,
}
TARGETS = {
    "structured identifiers": {"recall": 0.95, "precision": 0.95},
    "injection": {"recall": 0.80, "fp_rate": 0.05},
}
LATENCY_BUDGET_MS = 10.0  # input check p50 on 2,000 characters, names included


def bench_policy() -> GuardrailPolicy:
    topics = (
        DeniedTopic(
            "investment_advice",
            "Personal advice on buying or selling stocks, shares, funds or cryptocurrencies",
            (
                "which stocks should I buy",
                "should I sell my shares",
                "should I invest in bitcoin",
                "what crypto will go up",
                "recommend a fund to invest my savings",
                "is it a good time to buy or sell stock",
                "best cryptocurrency to buy",
            ),
        ),
        DeniedTopic(
            "medical_diagnosis",
            "Diagnosing a medical condition or recommending medication and doses",
            (
                "what disease do I have",
                "diagnose my symptoms",
                "what medication should I take",
                "how much ibuprofen should I take",
                "do I have cancer",
                "is this rash an infection",
                "what medicine should I give my child for a fever",
            ),
        ),
    )
    rules = []
    for direction in (Direction.INPUT, Direction.OUTPUT):
        rules += [
            CheckRule(Check.PII, direction, Action.MASK, entities=PII_ENTITIES),
            CheckRule(Check.SECRETS, direction, Action.MASK),
            CheckRule(Check.DENIED_WORDS, direction, Action.MASK, words=("project falcon", "bluebird", "frak")),
            CheckRule(Check.DENIED_TOPICS, direction, Action.FLAG, topics=topics),
        ]
    rules += [
        CheckRule(Check.INJECTION, Direction.INPUT, Action.BLOCK),
        CheckRule(Check.SIZE, Direction.INPUT, Action.BLOCK, max_chars=32_000, max_tokens=8_000),
        CheckRule(Check.GROUNDING, Direction.OUTPUT, Action.FLAG),
    ]
    return GuardrailPolicy("bench", Scope.CENTRAL, tuple(rules))


LATENCY_PROMPT = (
    "You are helping the finance operations team. Please review the vendor onboarding notes below and "
    "produce a short summary with open risks, owners and next steps.\n\n"
    "Vendor: Northwind Logistics GmbH, Berlin. Contact: procurement lead, reachable through the shared "
    "vendor mailbox. Contract value 240,000 EUR over 24 months, payment terms net 45, early-payment discount "
    "of 1.5% within 10 days. The vendor requested an exception to the standard liability cap (2x annual "
    "fees instead of 1x) and a change to the data processing addendum so that sub-processors in the UK can "
    "be added with 14 days notice instead of 30.\n\n"
    "Security review: SOC 2 Type II report dated March 2024 was received; two low findings about access "
    "reviews were remediated. Penetration test summary pending. The integration uses SFTP drops every 6 "
    "hours with PGP encryption; keys are exchanged through the security team's portal, not email.\n\n"
    "Finance: the first invoice (reference NW-2024-0117) was received before the purchase order was "
    "approved, so it must be matched manually. Budget owner is the EMEA logistics director; cost center "
    "4410. Forecast impact for Q3 is 31,500 EUR and for Q4 is 30,000 EUR.\n\n"
    "Legal: the master services agreement redlines are in round three. Outstanding items are the liability "
    "cap, audit rights (vendor wants 30 days notice, we ask for 10), and termination for convenience with "
    "90 days notice. Governing law is German law with courts in Frankfurt.\n\n"
    "Operations: go-live is planned for the first Monday of next quarter, with a two-week parallel run. "
    "Rollback plan: keep the previous carrier contract active until the parallel run ends. Escalation path: "
    "logistics manager, then regional director, then the vendor's account executive.\n\n"
    "Please list the risks in order of severity, suggest an owner for each, and flag anything that needs "
    "approval from legal or security before signature. Keep it under 200 words and use bullet points. "
    "Also note whether the early-payment discount is worth taking given our current cash position, and "
    "whether the parallel run overlaps with the year-end freeze window in December."
)


#: The business prompt's paragraphs with their particulars left open: `business_prompts` fills them
#: from the lists below and shuffles the middle paragraphs, so no two prompts are the same text.
BUSINESS_PARAGRAPHS = (
    "You are helping the {team} team. Please review the {subject} notes below and produce a short summary "
    "with open risks, owners and next steps.",
    "Vendor: {vendor}, {city}. Contact: {contact}, reachable through the shared vendor mailbox. Contract value "
    "{amount} {currency} over {months} months, payment terms net {net}, early-payment discount of {discount}% "
    "within 10 days. The vendor requested an exception to the standard liability cap ({cap}x annual fees "
    "instead of 1x) and a change to the data processing addendum so that sub-processors in {country} can be "
    "added with {short} days notice instead of 30.",
    "Security review: SOC 2 Type II report dated {month} {year} was received; {findings} low findings about "
    "access reviews were remediated. Penetration test summary pending. The integration uses SFTP drops every "
    "{hours} hours with PGP encryption; keys are exchanged through the security team's portal, not email.",
    "Finance: the first invoice (reference {ref}) was received before the purchase order was approved, so it "
    "must be matched manually. Budget owner is the {region} {function} director; cost center {cc}. Forecast "
    "impact for Q3 is {q3} {currency} and for Q4 is {q4} {currency}.",
    "Legal: the master services agreement redlines are in round {round}. Outstanding items are the liability "
    "cap, audit rights (vendor wants {audit} days notice, we ask for 10), and termination for convenience with "
    "{term} days notice. Governing law is {law} law with courts in {court}.",
    "Operations: go-live is planned for the first {weekday} of next quarter, with a {parallel}-week parallel "
    "run. Rollback plan: keep the previous {previous} contract active until the parallel run ends. Escalation "
    "path: {function} manager, then regional director, then the vendor's account executive.",
    "Please list the risks in order of severity, suggest an owner for each, and flag anything that needs "
    "approval from legal or security before signature. Keep it under {words} words and use bullet points. "
    "Also note whether the early-payment discount is worth taking given our current cash position, and "
    "whether the parallel run overlaps with the year-end freeze window in December.",
)
BUSINESS_CHOICES = {
    "team": ("finance operations", "procurement", "supply chain", "vendor management", "shared services"),
    "subject": ("vendor onboarding", "supplier renewal", "outsourcing", "contract review"),
    "vendor": (
        "Northwind Logistics GmbH",
        "Contoso Freight Ltd",
        "Fabrikam Packaging BV",
        "Tailspin Couriers SA",
        "Litware Storage Inc",
        "Adatum Cold Chain AB",
    ),
    "city": ("Berlin", "Rotterdam", "Lyon", "Manchester", "Warsaw", "Gothenburg", "Porto", "Milan"),
    "contact": ("procurement lead", "key account manager", "operations director", "sales engineer"),
    "currency": ("EUR", "GBP", "USD"),
    "country": ("the UK", "Switzerland", "Canada", "Norway", "India"),
    "month": ("January", "March", "May", "July", "September", "November"),
    "region": ("EMEA", "Nordics", "DACH", "Benelux", "Iberia"),
    "function": ("logistics", "operations", "procurement", "finance"),
    "law": ("German", "Dutch", "French", "English", "Swedish"),
    "court": ("Frankfurt", "Amsterdam", "Paris", "London", "Stockholm", "Munich"),
    "weekday": ("Monday", "Tuesday", "Wednesday"),
    "previous": ("carrier", "warehouse", "courier", "storage"),
}


def business_prompts(count: int, seed: int = 29) -> list[str]:
    """`count` different 2,000-character business prompts like `LATENCY_PROMPT`: the same kind and
    density of names, places and numbers, different particulars and paragraph order."""
    rng = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < count:
        values = {key: rng.choice(options) for key, options in BUSINESS_CHOICES.items()}
        values.update(
            amount=f"{rng.randint(40, 900) * 1000:,}",
            months=rng.choice((12, 18, 24, 36)),
            net=rng.choice((30, 45, 60)),
            discount=rng.choice(("1", "1.5", "2")),
            cap=rng.choice((2, 3)),
            short=rng.choice((7, 14, 21)),
            year=rng.randint(2023, 2025),
            findings=rng.choice(("two", "three", "four")),
            hours=rng.choice((2, 4, 6, 12)),
            ref=f"{''.join(rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ') for _ in range(2))}-{rng.randint(2023, 2025)}-"
            f"{rng.randint(1, 9999):04d}",
            cc=rng.randint(1000, 9999),
            q3=f"{rng.randint(10, 90) * 500:,}",
            q4=f"{rng.randint(10, 90) * 500:,}",
            round=rng.choice(("two", "three", "four")),
            audit=rng.choice((20, 30, 45)),
            term=rng.choice((60, 90, 120)),
            parallel=rng.choice(("two", "three", "four")),
            words=rng.choice((150, 200, 250)),
        )
        middle = list(BUSINESS_PARAGRAPHS[1:-1])
        rng.shuffle(middle)
        paragraphs = [BUSINESS_PARAGRAPHS[0], *middle, BUSINESS_PARAGRAPHS[-1]]
        prompt = "\n\n".join(paragraph.format(**values) for paragraph in paragraphs)
        while len(prompt) < 2_000:
            prompt += "\n\nThanks in advance; reply in the same thread so the whole team can see it."
        if prompt[:2_000] not in prompts:
            prompts.append(prompt[:2_000])
    return prompts


def load_cases(path: Path = EVAL_SET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def personal_policy(policy: GuardrailPolicy) -> GuardrailPolicy:
    """The bench policy with every personal-data type (names through the NER model included) and
    the indirect-injection rule: what a strict production policy asks for."""
    return policy.with_rules(
        CheckRule(Check.PII, Direction.INPUT, Action.MASK, entities=KNOWN_PII_ENTITIES),
        CheckRule(Check.INDIRECT_INJECTION, Direction.INPUT, Action.DROP),
    )


def evaluate_personal_context(engine: GuardrailEngine, policy: GuardrailPolicy, cases: list[dict], prefix: str = ""):
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    errors: list[tuple[str, str, str]] = []
    for item in cases:
        rule = policy.rule(Check(item["check"]), Direction.INPUT)
        assert rule is not None, item["check"]
        found = {finding.entity_type for finding in engine.detect(item["text"], rule).findings}
        wanted = CATEGORY_TYPES[item["category"]]
        if item["label"]:
            predicted = bool(found & set(item.get("entities") or found)) if wanted is not None else bool(found)
        else:
            predicted = bool(found & set(wanted)) if wanted is not None else bool(found)
        outcome = ("tp" if predicted else "fn") if item["label"] else ("fp" if predicted else "tn")
        counts[prefix + item["category"]][outcome] += 1
        if outcome in ("fp", "fn"):
            errors.append((item["id"], outcome, f"{sorted(found)} {item['text'][:110]!r}"))
    return counts, errors


def evaluate_accuracy(engine: GuardrailEngine, policy: GuardrailPolicy, cases: list[dict]):
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    errors: list[tuple[str, str, str]] = []
    for item in cases:
        check, direction = Check(item["check"]), Direction(item["direction"])
        rule = policy.rule(check, direction)
        assert rule is not None, f"bench policy lacks {check}/{direction}"
        detection = engine.detect(item["text"], rule, item.get("context"))
        found_types = {finding.entity_type for finding in detection.findings}
        if check is Check.PII:
            predicted = item["entity"] in found_types if item["label"] else bool(found_types)
            keys = [f"pii:{item['entity']}", "structured identifiers"]
        else:
            predicted = bool(detection.findings)
            keys = [check.value]
            if check is Check.INJECTION and item.get("note", "").startswith(("obfuscated", "multilingual")):
                keys.append("injection:" + item["note"].split(":")[0])
        if item.get("split"):
            keys = [*keys, *(f"{item['split']} {key}" for key in keys if ":" not in key)]
        outcome = ("tp" if predicted else "fn") if item["label"] else ("fp" if predicted else "tn")
        for key in keys:
            counts[key][outcome] += 1
        if outcome in ("fp", "fn"):
            errors.append((item["id"], outcome, f"{sorted(found_types)} {item['text'][:110]!r}"))
    return counts, errors


def distinct_prompts(engine: GuardrailEngine, policy: GuardrailPolicy, count: int, seed: int = 17) -> list[str]:
    """`count` different 2,000-character prompts, each a seeded shuffle of labelled sentences that
    the policy does not block (identifiers, secrets, names, addresses, documents, benign requests
    that use injection words innocently): denser in personal data than most prompts, and never
    the same text twice, so no cache helps (filter them with an engine other than the one timed)."""
    pool = [
        item["text"]
        for path in (EVAL_SET, PERSONAL_CONTEXT_SET)
        for item in load_cases(path)
        if item["check"] in ("pii", "secrets", "denied_words", "denied_topics")
        or (item["check"] == "injection" and not item["label"])
    ]
    pool = [text for text in pool if not engine.evaluate(text, policy, Direction.INPUT).blocked]
    rng = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < count:
        separator, prompt = " " if rng.random() < 0.7 else "\n\n", ""
        while len(prompt) < 2_000:
            prompt = separator.join(filter(None, (prompt, rng.choice(pool))))
        prompt = prompt[:2_000]
        if not engine.evaluate(prompt, policy, Direction.INPUT).blocked and prompt not in prompts:
            prompts.append(prompt)
    return prompts


def measure_latency(engine: GuardrailEngine, policy: GuardrailPolicy, prompts: list[str]) -> dict[str, float]:
    """Wall-clock and CPU time of the full input check over `prompts` in order, after warm-up on
    other texts."""
    assert all(len(prompt) == 2000 for prompt in prompts)
    for warm in range(20):
        engine.evaluate(LATENCY_PROMPT[warm : warm + 2000], policy, Direction.INPUT)
    samples, cpu = [], []
    for prompt in prompts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = engine.evaluate(prompt, policy, Direction.INPUT)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        assert not result.blocked
    samples.sort()
    return {
        "chars": 2000,
        "runs": len(prompts),
        "distinct": len(set(prompts)),
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "mean_ms": statistics.fmean(samples),
        "cpu_p50_ms": statistics.median(cpu),
        "cpu_p99_ms": sorted(cpu)[min(len(cpu) - 1, int(len(cpu) * 0.99))],
    }


def measure_checks(engine: GuardrailEngine, policy: GuardrailPolicy, prompts: list[str]) -> dict[str, float]:
    """CPU time (`time.process_time`) p50 of each input rule's detection alone over `prompts`, in ms:
    where the full check's time goes. Use an engine without the detection cache."""
    rules = policy.rules_for(Direction.INPUT)
    for rule in rules:
        for warm in range(5):
            engine.detect(LATENCY_PROMPT[warm : warm + 2000], rule)
    cpu: dict[str, list[float]] = {rule.check.value: [] for rule in rules}
    for prompt in prompts:
        for rule in rules:
            started = time.process_time()
            engine.detect(prompt, rule)
            cpu[rule.check.value].append((time.process_time() - started) * 1000)
    return {check: statistics.median(samples) for check, samples in cpu.items()}


def latency_line(label: str, latency: dict[str, float]) -> str:
    return (
        f"{label}: {latency['runs']} runs ({latency['distinct']} distinct texts of {latency['chars']} characters): "
        f"p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, mean {latency['mean_ms']:.2f} ms "
        f"(CPU time p50 {latency['cpu_p50_ms']:.2f} ms, p99 {latency['cpu_p99_ms']:.2f} ms)"
    )


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--errors", action="store_true", help="list misclassified cases")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--runs", type=int, default=300, help="latency samples")
    args = parser.parse_args()

    started = time.perf_counter()
    engine = GuardrailEngine(hash_key=b"bench")
    build_ms = (time.perf_counter() - started) * 1000
    policy = bench_policy()
    cases = load_cases()
    counts, errors = evaluate_accuracy(engine, policy, cases)
    strict = personal_policy(policy)
    personal_cases = load_cases(PERSONAL_CONTEXT_SET)
    personal_counts, personal_errors = evaluate_personal_context(engine, strict, personal_cases)
    counts.update(personal_counts)
    errors += personal_errors
    holdout_cases = load_cases(HOLDOUT_SET)
    holdout_counts, holdout_errors = evaluate_personal_context(engine, strict, holdout_cases, prefix="holdout ")
    counts.update(holdout_counts)
    errors += holdout_errors
    holdout_2_cases = load_cases(HOLDOUT_SET_2)
    holdout_2_counts, holdout_2_errors = evaluate_personal_context(
        engine, strict, holdout_2_cases, prefix="holdout set 2 "
    )
    counts.update(holdout_2_counts)
    errors += holdout_2_errors
    holdout_3_cases = load_cases(HOLDOUT_SET_3)
    holdout_3_counts, holdout_3_errors = evaluate_personal_context(
        engine, strict, holdout_3_cases, prefix="holdout set 3 "
    )
    counts.update(holdout_3_counts)
    errors += holdout_3_errors
    holdout_4_cases = load_cases(HOLDOUT_SET_4)
    holdout_4_counts, holdout_4_errors = evaluate_personal_context(
        engine, strict, holdout_4_cases, prefix="holdout set 4 "
    )
    counts.update(holdout_4_counts)
    errors += holdout_4_errors
    fixed = [LATENCY_PROMPT[:2000]] * args.runs
    # The detection cache would answer a repeated prompt from memory: the fixed prompt is timed on an
    # engine without it, and then with it (a conversation resent turn after turn).
    uncached = GuardrailEngine(hash_key=b"bench", result_cache_size=0)
    latency = measure_latency(uncached, policy, fixed)
    latency_fixed = measure_latency(uncached, strict, fixed)
    latency_resent = measure_latency(engine, strict, fixed)
    latency_business = measure_latency(engine, strict, business_prompts(args.runs))
    latency_names = measure_latency(engine, strict, distinct_prompts(uncached, strict, args.runs))
    per_check = measure_checks(uncached, strict, business_prompts(args.runs))

    order = [
        "structured identifiers",
        *[f"pii:{entity}" for entity in PII_ENTITIES],
        "secrets",
        "injection",
        "injection:multilingual",
        "injection:obfuscated",
        "denied_words",
        "denied_topics",
        "grounding",
        *CATEGORY_TYPES,
        *(
            f"{split} {check}"
            for split in ("holdout-1", "holdout-2")
            for check in ("structured identifiers", "secrets", "injection", "denied_topics")
        ),
        *(f"holdout {category}" for category in CATEGORY_TYPES),
        *(f"holdout set 2 {category}" for category in CATEGORY_TYPES),
        *(f"holdout set 3 {category}" for category in CATEGORY_TYPES),
        *(f"holdout set 4 {category}" for category in CATEGORY_TYPES),
    ]
    rows = []
    print(
        f"guardrails bench: {len(cases) + len(personal_cases) + len(holdout_cases)} + "
        f"{len(holdout_2_cases) + len(holdout_3_cases)} cases, "
        f"injection detector: "
        f"{engine.injection_detector_name}"
    )
    print(f"engine build {build_ms:.0f} ms, cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}\n")
    print("| check | cases (+/-) | precision | recall | false-positive rate |")
    print("| --- | --- | --- | --- | --- |")
    for key in order:
        if key not in counts:
            continue
        count = counts[key]
        positives, negatives = count["tp"] + count["fn"], count["fp"] + count["tn"]
        precision = ratio(count["tp"], count["tp"] + count["fp"])
        recall = ratio(count["tp"], positives)
        fp_rate = ratio(count["fp"], negatives)
        rows.append({"check": key, **count, "precision": precision, "recall": recall, "fp_rate": fp_rate})
        print(f"| {key} | {positives}/{negatives} | {fmt(precision)} | {fmt(recall)} | {fmt(fp_rate)} |")
    print()
    print(latency_line("full input check without names, the fixed business prompt", latency))
    print(latency_line("with every personal-data type (names by NER), the fixed business prompt", latency_fixed))
    print(latency_line("the same, the prompt resent (detection cache)", latency_resent))
    print(latency_line("the same, distinct business prompts", latency_business))
    print(latency_line("the same, distinct prompts dense in personal data (labelled sentences)", latency_names))
    ok = latency_business["p50_ms"] <= LATENCY_BUDGET_MS
    print(f"budget p50 <= {LATENCY_BUDGET_MS} ms on distinct business prompts with names: {'ok' if ok else 'MISSED'}")
    print(
        "CPU time p50 per input check alone, distinct business prompts: "
        + ", ".join(f"{check} {ms:.2f} ms" for check, ms in per_check.items())
    )

    missed = []
    by_key = {row["check"]: row for row in rows}
    for key, targets in TARGETS.items():
        row = by_key.get(key, {})
        for metric, target in targets.items():
            value = row.get(metric)
            ok = value is not None and (value <= target if metric == "fp_rate" else value >= target)
            sign = "<=" if metric == "fp_rate" else ">="
            print(f"target {key} {metric} {sign} {target}: {fmt(value)} {'ok' if ok else 'MISSED'}")
            if not ok:
                missed.append(f"{key} {metric}")
    if args.errors:
        print("\nmisclassified:")
        for case_id, outcome, detail in errors:
            print(f"  {case_id} {outcome}: {detail}")
    if args.json:
        document = {
            "rows": rows,
            "latency": latency,
            "latency_with_names_fixed_prompt": latency_fixed,
            "latency_with_names_resent": latency_resent,
            "latency_with_names_business": latency_business,
            "latency_with_names_dense": latency_names,
            "cpu_p50_ms_per_check": per_check,
            "missed": missed,
        }
        args.json.write_text(json.dumps(document, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
