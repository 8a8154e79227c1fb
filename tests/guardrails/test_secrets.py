import pytest

from governance.guardrails import Action, Check

from .conftest import rule

SECRETS = rule(Check.SECRETS, Action.MASK)
AWS = "AKIA" + "Q3EXAMPLEX7Y2Z9W"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def found(engine, text):
    return [(f.entity_type, text[f.start : f.end]) for f in engine.detect(text, SECRETS).findings]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        (f"creds {AWS} ok", "AWS_ACCESS_KEY", AWS),
        (f"git push with {GITHUB} fails", "GITHUB_TOKEN", GITHUB),
        ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_ACCESS_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ('password = "Tr0ub4dor&3x"', "SECRET_KEYWORD", "Tr0ub4dor&3x"),
        ("db_password: s3cretValue99", "SECRET_KEYWORD", "s3cretValue99"),
        ("the api key is Zx81Kq0Lm2Nb7Vc4Xs5Da6Fg", "HIGH_ENTROPY_SECRET", "Zx81Kq0Lm2Nb7Vc4Xs5Da6Fg"),
    ],
)
def test_credentials_are_found_by_the_detect_secrets_plugins(engine, text, entity, value):
    assert (entity, value) in found(engine, text)


def test_a_private_key_is_reported_as_its_whole_pem_block(engine):
    text = (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V1x3b2mYl2LzQ0hPq\n-----END RSA PRIVATE KEY-----\nbye"
    )

    ((entity, value),) = found(engine, text)

    assert entity == "PRIVATE_KEY"
    assert value.startswith("-----BEGIN RSA PRIVATE KEY") and value.endswith("END RSA PRIVATE KEY-----")


@pytest.mark.parametrize(
    "text",
    [
        "revert commit 3f786850e387550fdab836ed7e6dc881de23001b",  # high entropy, no credential word
        "request 123e4567-e89b-42d3-a456-426614174000 failed",  # a UUID
        "set api_key = YOUR_API_KEY_HERE",  # a placeholder
        'password = "<your-password>"',  # a template
        "api_key = os.environ['API_KEY']",  # an indirect reference
        "secret: the meeting moved to Thursday",  # prose after a keyword
        "here is my public key ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDx7",
        "the token limit is 4096",
    ],
)
def test_high_entropy_and_secret_sounding_text_that_is_no_secret_is_left_alone(engine, text):
    assert found(engine, text) == []


def test_the_literal_gates_in_front_of_provider_patterns_change_no_finding():
    """A provider pattern skipped on a line without its literals would have found nothing there: on
    every labelled text, the findings with and without the gates are the same."""
    import json
    from pathlib import Path

    from governance.guardrails.detectors.secrets import SecretsDetector

    root = Path(__file__).resolve().parents[2] / "benchmarks" / "guardrails"
    texts = [
        json.loads(line)["text"]
        for name in ("eval_set.jsonl", "personal_context_set.jsonl", "holdout_set.jsonl")
        for line in (root / name).read_text(encoding="utf-8").splitlines()
    ]
    gated, ungated = SecretsDetector(), SecretsDetector()
    ungated._patterns = [(plugin, regex, (), False) for plugin, regex, _, _ in ungated._patterns]
    assert any(literals for _, _, literals, _ in gated._patterns)
    secrets_rule = rule(Check.SECRETS)

    def digest(entity_type, value):
        return entity_type + ":" + value

    differences = [
        text
        for text in texts
        if gated.detect(text, secrets_rule, context=None, digest=digest)
        != ungated.detect(text, secrets_rule, context=None, digest=digest)
    ]
    assert differences == []
