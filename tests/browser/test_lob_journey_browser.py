"""The whole journey in a real browser, from an empty database (migrate only, no seed_demo): the
platform admin builds the catalog in the portal and (where the portal has no form yet) through the
management API, approves an alias for confidential data and onboards LOB "Retail" with its admin;
the LOB admin registers a use case, fills the intake, sees tier "high" and submits; a reviewer
requests changes, the LOB answers and resubmits; the four reviewers the tier needs approve with
conditions (one alias, a 50 USD budget); the LOB admin issues a production key; the openai SDK
call succeeds, another alias is refused with model_not_approved, and the dashboard shows the call
and its cost. The only set-up outside the browser is people: accounts come from the identity
provider, not from this platform."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
import requests

from tests.e2e.conftest import (
    manage,
)

from .conftest import migrated_database, serving_gateway
from .test_portal_browser import follow, shown

with contextlib.suppress(ImportError):  # the `browser` fixture fails each test, saying what to install
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BOARD = ("security", "legal", "risk", "compliance")

#: People only: a platform admin, the future LOB admin (no membership yet), four board members.
PEOPLE = """
from django.contrib.auth import get_user_model
from genai_platform.access.services import central_role_grant
User = get_user_model()
platform = User.objects.create_user("platform", password=PASSWORD, is_staff=True)
central_role_grant(user=platform, role="platform_admin")
User.objects.create_user("retail-admin", password=PASSWORD, is_staff=True)
for specialty in ("security", "legal", "risk", "compliance"):
    member = User.objects.create_user(f"board-{specialty}", password=PASSWORD, is_staff=True)
    central_role_grant(user=member, role="governance_reviewer", specialty=specialty)
"""


@dataclass(frozen=True)
class EmptyPlatform:
    base_url: str
    password: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def empty_platform(tmp_path_factory) -> Iterator[EmptyPlatform]:
    logs = tmp_path_factory.mktemp("journey")
    password = secrets.token_urlsafe(16)
    with migrated_database("genai_journey") as env:
        manage(env, "shell", "-c", f"PASSWORD = {password!r}\n" + PEOPLE)
        with serving_gateway(env, logs) as base_url:
            yield EmptyPlatform(base_url=base_url, password=password, env=env)


def sign_in(browser, platform: EmptyPlatform, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{platform.base_url}/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(platform.password)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#home-login input[type=submit]"))
    shown(browser, "#next-steps")


def api_session(platform: EmptyPlatform, username: str) -> requests.Session:
    """The management API with a portal session (what a browser's script would send)."""
    session = requests.Session()
    session.get(f"{platform.base_url}/admin/login/")
    session.post(
        f"{platform.base_url}/admin/login/",
        data={"username": username, "password": platform.password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{platform.base_url}/admin/login/"},
    )
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": platform.base_url})
    return session


def add(browser, platform: EmptyPlatform, model: str, fields: dict[str, str], selects: dict[str, str]) -> None:
    browser.get(f"{platform.base_url}/admin/model_catalog/{model}/add/")
    for name, value in fields.items():
        element = browser.find_element(By.ID, f"id_{name}")
        element.clear()
        element.send_keys(value)
    for name, text in selects.items():
        Select(browser.find_element(By.ID, f"id_{name}")).select_by_visible_text(text)
    follow(browser, browser.find_element(By.NAME, "_save"))
    shown(browser, "ul.messagelist li.success")


def decide(browser, platform: EmptyPlatform, review_url: str, verdict: str, comment: str, **conditions: str) -> None:
    browser.get(review_url)
    browser.find_element(By.ID, "id_comment").send_keys(comment)
    if "alias" in conditions:
        browser.find_element(By.XPATH, f"//label[contains(., '{conditions['alias']}')]/input").click()
    if "budget" in conditions:
        browser.find_element(By.ID, "id_monthly_budget_cap_usd").send_keys(conditions["budget"])
    follow(browser, browser.find_element(By.ID, f"decide-{verdict}"))
    shown(browser, "ul.messagelist li")


def test_from_an_empty_platform_to_an_approved_production_call(empty_platform, browser):
    platform = empty_platform

    # ---- the platform admin: catalog (portal), model approval and onboarding (management API) ----
    sign_in(browser, platform, "platform")
    assert "add a provider account" in browser.find_element(By.ID, "next-steps").text
    add(
        browser,
        platform,
        "provideraccount",
        {"name": "sandbox-local", "region": "local"},
        {"provider": "Sandbox (offline demo and test provider)"},
    )
    add(browser, platform, "catalogmodel", {"name": "sandbox-chat"}, {})
    add(
        browser,
        platform,
        "deployment",
        {
            "name": "sandbox-chat-local",
            "provider_model_id": "sandbox-chat",
            "input_price_per_million": "3",
            "output_price_per_million": "15",
        },
        {"account": "sandbox-local (Sandbox (offline demo and test provider), local)", "model": "sandbox-chat"},
    )
    for alias in ("retail-chat", "other-chat"):
        browser.get(f"{platform.base_url}/admin/model_catalog/alias/add/")
        browser.find_element(By.ID, "id_name").send_keys(alias)
        Select(browser.find_element(By.ID, "id_routes-0-deployment")).select_by_visible_text("sandbox-chat-local")
        follow(browser, browser.find_element(By.NAME, "_save"))
        shown(browser, "ul.messagelist li.success")
    central = api_session(platform, "platform")
    for alias in ("retail-chat", "other-chat"):
        approved = central.post(
            f"{platform.base_url}/api/v1/model-approvals/set/",
            json={"alias": alias, "classifications": ["public", "internal", "confidential"]},
        )
        assert approved.status_code == 200, approved.text
    onboarded = central.post(
        f"{platform.base_url}/api/v1/lobs/onboard/",
        json={"slug": "retail", "name": "Retail", "admin_username": "retail-admin"},
    )
    assert onboarded.status_code == 201, onboarded.text

    # ---- the LOB admin: register, intake (tier high), submit ----
    sign_in(browser, platform, "retail-admin")
    browser.get(f"{platform.base_url}/admin/lob_tenants/usecase/add/")
    Select(browser.find_element(By.ID, "id_lob")).select_by_visible_text("Retail")
    browser.find_element(By.ID, "id_slug").send_keys("credit-assist")
    browser.find_element(By.ID, "id_name").send_keys("Credit assistant")
    for alias in ("retail-chat", "other-chat"):
        Select(shown(browser, "#id_aliases_from")).select_by_visible_text(alias)
        browser.find_element(By.ID, "id_aliases_add").click()
    follow(browser, browser.find_element(By.NAME, "_save"))
    shown(browser, "ul.messagelist li.success")
    browser.get(f"{platform.base_url}/")
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "credit-assist: fill the intake"))
    Select(browser.find_element(By.ID, "id_data_classification")).select_by_value("confidential")
    answers = {
        "business_problem": "Credit pre-assessments take days.",
        "intended_outcome": "A first assessment an underwriter checks.",
        "success_metrics": "Decision in one day.",
        "business_owner": "Head of lending",
        "people_affected": "Loan applicants.",
        "jurisdictions": "EU",
        "expected_monthly_requests": "20000",
        "monthly_budget_usd": "50",
    }
    for name, value in answers.items():
        element = browser.find_element(By.ID, f"id_{name}")
        element.clear()
        element.send_keys(value)
    browser.find_element(By.ID, "id_personal_data").click()
    Select(browser.find_element(By.ID, "id_annex_iii_area")).select_by_value("essential_services")
    follow(browser, browser.find_element(By.ID, "intake-save"))
    assert shown(browser, "#risk-tier").text == "High"
    assert "Annex III" in browser.find_element(By.ID, "tier-reasons").text
    assert browser.find_element(By.ID, "eu-ai-act-category").text == "High-risk (Annex III area)"
    follow(browser, browser.find_element(By.LINK_TEXT, "the use case's page"))
    follow(browser, shown(browser, "#submit-for-review"))
    assert "Submitted" in shown(browser, "ul.messagelist li.success").text

    # ---- the board: changes requested; the LOB answers; four approvals with conditions ----
    sign_in(browser, platform, "board-legal")
    assert "1 review waiting for you" in browser.find_element(By.ID, "next-steps").text
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "retail/credit-assist"))
    review_url = browser.current_url
    decide(browser, platform, review_url, "request-changes", "Name the underwriter who checks each assessment.")

    sign_in(browser, platform, "retail-admin")
    assert "credit-assist: changes requested" in browser.find_element(By.ID, "next-steps").text
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "credit-assist: changes requested"))
    assert "Name the underwriter" in shown(browser, "#governance-reviews").text
    browser.find_element(By.ID, "id_answer").send_keys("Jane Doe (underwriting) checks each assessment.")
    follow(browser, browser.find_element(By.ID, "submit-for-review"))
    shown(browser, "ul.messagelist li.success")

    for specialty in BOARD:
        sign_in(browser, platform, f"board-{specialty}")
        follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "retail/credit-assist"))
        if specialty == "security":
            assert "Jane Doe" in shown(browser, "#lob-answer").text
        last = specialty == BOARD[-1]
        conditions = {"alias": "retail-chat", "budget": "50"} if last else {}
        decide(browser, platform, browser.current_url, "approve", f"{specialty}: acceptable.", **conditions)
    assert shown(browser, "#use-case-status").text == "Approved"

    # ---- the LOB admin: production key, calls, dashboard ----
    sign_in(browser, platform, "retail-admin")
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "credit-assist: approved, issue a production key"))
    Select(browser.find_element(By.ID, "id_use_case")).select_by_visible_text("retail/credit-assist")
    browser.find_element(By.ID, "id_name").send_keys("production")
    Select(browser.find_element(By.ID, "id_environment")).select_by_value("production")
    follow(browser, browser.find_element(By.NAME, "_save"))
    key = shown(browser, "#issued-key").text

    client = openai.OpenAI(base_url=f"{platform.base_url}/v1", api_key=key, max_retries=0, timeout=30)
    reply = client.chat.completions.create(model="retail-chat", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="other-chat", messages=[{"role": "user", "content": "hello"}])
    assert refused.value.code == "model_not_approved"

    manage(platform.env, "flush_usage")
    browser.get(f"{platform.base_url}/portal/dashboard/")
    row = shown(browser, "tr[data-use-case='credit-assist']")
    assert row.find_element(By.CSS_SELECTOR, "td.requests .total").text != "0"
    assert row.find_element(By.CSS_SELECTOR, "td.spend .total").text not in ("", "none", "$0.00")
    assert "of $50.00" in row.find_element(By.CSS_SELECTOR, "td.month-spend").text
    assert json.loads(central.get(f"{platform.base_url}/api/v1").text)["schema"]
