"""The prompt catalog: immutable, numbered versions; declared, typed variables; pinning by a use case
of its own LOB's versions or of versions shared with it by grant."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import TestCase

from genai_platform import hotcache
from genai_platform.access import services as access
from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from lob_tenants import services as tenant_services
from lob_tenants.keys import key_parse
from lob_tenants.models import PromptTemplate, PromptTemplateImmutable
from lob_tenants.prompts import PinnedPrompt, PromptVariableError, prompt_render, template_check
from lob_tenants.selectors import (
    key_cache_key,
    prompt_template_latest,
    prompt_templates_of,
    prompt_templates_readable_by,
)
from lob_tenants.services import prompt_template_save, use_case_prompt_pin
from tests.factories import LobFactory, PromptTemplateFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db

GREETING = "Hello {{ customer }}.{% if vip %} Thank you for being with us {{ years }} years.{% endif %}"
GREETING_VARIABLES = [
    {"name": "customer", "type": "string", "description": "The customer's first name."},
    {"name": "vip", "type": "boolean", "required": False, "default": False},
    {"name": "years", "type": "integer", "required": False, "default": 1},
]


def refusal(template: str, variables) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        template_check(template, variables)
    return refused.value.messages


def lob_admin(lob):
    admin = UserFactory()
    with TestCase.captureOnCommitCallbacks(execute=True):  # the role reaches the policy after commit
        access.membership_set(lob=lob, user=admin, role="lob_admin")
    return admin


# ---- versions ----


def test_saving_a_name_again_makes_the_next_version_and_leaves_the_earlier_one_as_it_was():
    first = PromptTemplateFactory(name="greeting", template="Hi {{ persona }}.")

    second = PromptTemplateFactory(lob=first.lob, name="greeting", template="Good day, {{ persona }}.")

    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.template == "Hi {{ persona }}."
    assert prompt_template_latest(lob=first.lob, name="greeting") == second
    assert list(prompt_templates_of(lob=first.lob, name="greeting")) == [second, first]


def test_each_lob_numbers_its_own_templates():
    retail, wealth = LobFactory(), LobFactory()
    PromptTemplateFactory(lob=retail, name="greeting")

    assert PromptTemplateFactory(lob=wealth, name="greeting").version == 1


def test_a_saved_version_cannot_be_changed():
    saved = PromptTemplateFactory()
    saved.template = "Something else about {{ persona }}."

    with pytest.raises(PromptTemplateImmutable):
        saved.save()


def test_saving_a_version_is_audited_with_a_digest_not_the_text():
    actor = UserFactory()

    saved = PromptTemplateFactory(template="Secret recipe for {{ persona }}.", actor=actor)

    event = AuditEvent.objects.get(action="prompt_template.saved", object_id=str(saved.pk))
    assert event.actor == actor.username and event.lob_slug == saved.lob.slug
    assert event.after["version"] == 1 and event.after["variables"] == ["persona"]
    assert len(event.after["sha256"]) == 64
    assert "Secret recipe" not in str(event.after)
    assert saved.created_by == actor


def test_the_database_refuses_a_second_row_with_the_same_version():
    saved = PromptTemplateFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        PromptTemplate.objects.create(lob=saved.lob, name=saved.name, version=saved.version, template="Hi")


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_name_get_distinct_consecutive_versions():
    lob = LobFactory()
    writers = 6
    start = threading.Barrier(writers)
    versions: list[int] = []
    errors: list[BaseException] = []

    def save(n: int) -> None:
        try:
            start.wait()
            saved = prompt_template_save(
                lob=lob,
                name="greeting",
                template=f"Draft {n} for {{{{ who }}}}.",
                variables=[{"name": "who", "type": "string"}],
            )
            versions.append(saved.version)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(versions) == list(range(1, writers + 1))


# ---- declared variables ----


def test_a_template_declaring_exactly_what_it_uses_is_accepted_and_normalized():
    specs = template_check(GREETING, GREETING_VARIABLES)

    assert [(s.name, s.type, s.required, s.default) for s in specs] == [
        ("customer", "string", True, None),
        ("vip", "boolean", False, False),
        ("years", "integer", False, 1),
    ]


def test_loop_and_set_names_and_template_functions_need_no_declaration():
    specs = template_check(
        "{% set greeting = 'Hi' %}{% for item in items.split(',') %}{{ greeting }} {{ item }} "
        "{{ loop.index }}{% endfor %}{{ range(2) | list }}",
        [{"name": "items", "type": "string"}],
    )

    assert [s.name for s in specs] == ["items"]


def test_a_variable_used_but_not_declared_is_refused_by_name():
    assert refusal("Hello {{ customer }} from {{ branch }}.", [{"name": "customer", "type": "string"}]) == [
        "The template uses the variable 'branch', which is not declared."
    ]


def test_a_variable_declared_but_not_used_is_refused_by_name():
    messages = refusal("Hello.", [{"name": "customer", "type": "string"}])

    assert messages == ["The variable 'customer' is declared but the template does not use it."]


def test_a_syntax_error_is_refused_with_its_line():
    messages = refusal("Hello\n{% if customer %}no end", [{"name": "customer", "type": "string"}])

    assert len(messages) == 1 and messages[0].startswith("Template syntax error on line 2")


@pytest.mark.parametrize(
    ("declaration", "says"),
    [
        ({"name": "x", "type": "date"}, "use one of: string, integer, number, boolean"),
        ({"name": "2x", "type": "string"}, "letters, digits and underscores"),
        ({"name": "x", "type": "string", "required": True, "default": "a"}, "is required, so it takes no default"),
        ({"name": "x", "type": "integer", "default": "three"}, "default that is not an integer"),
        ({"name": "x", "type": "string", "colour": "red"}, "unknown fields: colour"),
        ({"name": "range", "type": "string"}, "name of a template function"),
    ],
    ids=["unknown-type", "bad-name", "required-with-default", "default-of-wrong-type", "unknown-field", "reserved"],
)
def test_a_malformed_declaration_is_refused_with_a_clear_message(declaration, says):
    messages = refusal("{{ x }}", [declaration])

    assert any(says in message for message in messages), messages


def test_a_refused_template_saves_nothing():
    lob = LobFactory()

    with pytest.raises(ValidationError):
        prompt_template_save(lob=lob, name="greeting", template="Hi {{ who }}", variables=[], actor=None)

    assert not PromptTemplate.objects.filter(lob=lob).exists()


# ---- rendering ----


def greeting() -> PromptTemplate:
    return PromptTemplateFactory(name="greeting", template=GREETING, variables=GREETING_VARIABLES)


def test_rendering_fills_defaults_for_optional_variables():
    template = greeting()

    assert prompt_render(template_version=template, variables={"customer": "Ada"}) == "Hello Ada."
    assert (
        prompt_render(template_version=template, variables={"customer": "Ada", "vip": True, "years": 7})
        == "Hello Ada. Thank you for being with us 7 years."
    )


@pytest.mark.parametrize(
    ("variables", "variable", "says"),
    [
        ({}, "customer", "Missing required prompt variable 'customer'"),
        ({"customer": "Ada", "colour": "red"}, "colour", "Unknown prompt variable 'colour'"),
        ({"customer": 42}, "customer", "'customer' must be a string, not an integer"),
        ({"customer": "Ada", "years": "7"}, "years", "'years' must be an integer, not a string"),
        ({"customer": "Ada", "years": True}, "years", "'years' must be an integer, not a boolean"),
        ({"customer": "Ada", "vip": 1}, "vip", "'vip' must be a boolean, not an integer"),
    ],
    ids=["missing", "unknown", "string-expected", "integer-expected", "bool-is-no-integer", "boolean-expected"],
)
def test_rendering_refuses_bad_variables_naming_the_variable(variables, variable, says):
    with pytest.raises(PromptVariableError) as refused:
        prompt_render(template_version=greeting(), variables=variables)

    assert refused.value.variable == variable
    assert says in refused.value.message


def test_a_number_accepts_integers_and_decimals():
    template = PromptTemplateFactory(template="Limit {{ amount }}", variables=[{"name": "amount", "type": "number"}])

    assert prompt_render(template_version=template, variables={"amount": 2}) == "Limit 2"
    assert prompt_render(template_version=template, variables={"amount": 2.5}) == "Limit 2.5"


def test_the_sandbox_refuses_reaching_python_internals():
    template = PromptTemplateFactory(
        template="{{ who.__class__.__mro__ }}", variables=[{"name": "who", "type": "string"}]
    )

    with pytest.raises(PromptVariableError, match="unsafe"):
        prompt_render(template_version=template, variables={"who": "x"})


def test_variable_values_are_text_never_template_code():
    template = PromptTemplateFactory(template="Hi {{ who }}", variables=[{"name": "who", "type": "string"}])

    assert prompt_render(template_version=template, variables={"who": "{{ 7 * 7 }}"}) == "Hi {{ 7 * 7 }}"


def test_a_render_that_grows_without_bound_is_refused():
    template = PromptTemplateFactory(
        template="{% for i in range(n) %}{% for j in range(n) %}xxxxxxxxxx{% endfor %}{% endfor %}",
        variables=[{"name": "n", "type": "integer"}],
    )

    with pytest.raises(PromptVariableError, match="longer than"):
        prompt_render(template_version=template, variables={"n": 100_000})


# ---- pinning ----


def test_a_use_case_pins_a_version_of_its_own_lob_with_an_audit_event():
    use_case = UseCaseFactory()
    first = PromptTemplateFactory(lob=use_case.lob, name="greeting")
    second = PromptTemplateFactory(lob=use_case.lob, name="greeting")

    use_case_prompt_pin(use_case=use_case, template_version=first, actor="alice")
    use_case_prompt_pin(use_case=use_case, template_version=second, actor="alice")

    use_case.refresh_from_db()
    assert use_case.prompt_template == second
    events = AuditEvent.objects.filter(action="use_case.prompt_pinned", object_id=str(use_case.pk)).order_by("id")
    assert [(e.before["prompt_template"], e.after["prompt_template"]) for e in events] == [
        (None, str(first)),
        (str(first), str(second)),
    ]


def test_pinning_the_version_already_pinned_records_nothing():
    use_case = UseCaseFactory()
    template = PromptTemplateFactory(lob=use_case.lob)
    use_case_prompt_pin(use_case=use_case, template_version=template)

    use_case_prompt_pin(use_case=use_case, template_version=template)

    assert AuditEvent.objects.filter(action="use_case.prompt_pinned").count() == 1


def test_another_lobs_version_cannot_be_pinned_without_a_grant():
    use_case = UseCaseFactory()
    theirs = PromptTemplateFactory()

    with pytest.raises(ValidationError, match="nor shared with"):
        use_case_prompt_pin(use_case=use_case, template_version=theirs)

    use_case.refresh_from_db()
    assert use_case.prompt_template is None


def test_a_grant_lets_another_lobs_use_case_pin_and_revoking_it_stops_pinning_and_the_gateway_copy():
    owner = LobFactory()
    admin = lob_admin(owner)
    shared = PromptTemplateFactory(lob=owner, name="greeting")
    their_use_case = UseCaseFactory()
    _, key = issue_key(their_use_case)

    tenant_services.object_share(obj=shared, owner_lob=owner, use_case=their_use_case, actor=admin)
    use_case_prompt_pin(use_case=their_use_case, template_version=shared)
    assert shared in prompt_templates_readable_by(use_case=their_use_case)
    assert key_principal(key).prompt_template.readable

    tenant_services.object_unshare(obj=shared, owner_lob=owner, use_case=their_use_case, actor=admin)
    hotcache.invalidate(key_cache_key(key_parse(key)[0]))  # the lookup TTL passes

    assert shared not in prompt_templates_readable_by(use_case=their_use_case)
    assert not key_principal(key).prompt_template.readable
    other_version = PromptTemplateFactory(lob=owner, name="greeting")
    with pytest.raises(ValidationError):
        use_case_prompt_pin(use_case=their_use_case, template_version=other_version)


def test_a_grant_of_one_version_does_not_open_the_others():
    owner = LobFactory()
    first = PromptTemplateFactory(lob=owner, name="greeting")
    second = PromptTemplateFactory(lob=owner, name="greeting")
    their_use_case = UseCaseFactory()
    tenant_services.object_share(obj=first, owner_lob=owner, use_case=their_use_case, actor=lob_admin(owner))

    assert list(prompt_templates_readable_by(use_case=their_use_case)) == [first]
    with pytest.raises(ValidationError):
        use_case_prompt_pin(use_case=their_use_case, template_version=second)


def test_the_key_principal_carries_the_pinned_version_for_the_gateway():
    use_case = UseCaseFactory()
    template = PromptTemplateFactory(lob=use_case.lob, name="greeting", template=GREETING, variables=GREETING_VARIABLES)
    use_case_prompt_pin(use_case=use_case, template_version=template)
    _, key = issue_key(use_case)

    pinned = key_principal(key).prompt_template

    assert isinstance(pinned, PinnedPrompt)
    assert pinned.label == str(template) and pinned.readable
    assert prompt_render(template_version=pinned, variables={"customer": "Ada"}) == "Hello Ada."
