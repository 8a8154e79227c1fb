"""A governance board member in a real browser: logs into the portal, opens the review of a LOB's
submitted use case from the queue and approves it; the LOB's production key, refused before with
use_case_not_approved, then works against the live gateway. Then the board suspends the use case
from the same page (the key is refused at once) and reinstates it (the key works again)."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from tests.e2e.conftest import manage, wait_for

from .conftest import WORLD, LivePortal, migrated_database, serving_gateway
from .test_portal_browser import follow, log_in, shown

with contextlib.suppress(ImportError):  # the `browser` fixture fails each test, saying what to install
    from selenium.webdriver.common.by import By

pytestmark = pytest.mark.e2e

#: Runs after WORLD: a security board member, and a low-risk retail use case submitted for review
#: with a production key issued beforehand.
SUBMITTED = """
from governance.services.workflow import intake_save, model_approval_set, use_case_submit
from genai_platform.access.services import central_role_grant
from lob_tenants.models import Lob
from lob_tenants.services import api_key_issue
from model_catalog.models import Alias

User = get_user_model()
board = User.objects.create_user("board-security", password=PASSWORD, is_staff=True)
central_role_grant(user=board, role="governance_reviewer", specialty="security")
retail_admin = User.objects.get(username="retail-admin")
alias = Alias.objects.get(name="portal-chat")
model_approval_set(alias=alias, classifications=["public", "internal", "confidential", "restricted"], actor="platform")
use_case = use_case_upsert(
    lob=Lob.objects.get(slug="retail"), slug="statement-summaries", name="Statement summaries",
    aliases=[alias], actor=retail_admin,
)
intake_save(
    use_case=use_case, actor=retail_admin, business_problem="Customers ask what their statement means.",
    intended_outcome="Plain-language summaries that staff check.", success_metrics="Fewer calls.",
    business_owner="Head of retail", people_affected="Retail customers, through staff.",
)
review = use_case_submit(use_case=use_case, actor=retail_admin)
_, plaintext = api_key_issue(use_case=use_case, name="production", environment="production", actor=retail_admin)
print(json.dumps({"review_id": review.pk, "tier": review.risk_tier, "production_key": plaintext}))
"""


@dataclass(frozen=True)
class BoardWorld:
    portal: LivePortal
    review_id: int
    production_key: str


@pytest.fixture(scope="module")
def board_world(tmp_path_factory) -> Iterator[BoardWorld]:
    """Like `live_portal`, with the board member and the submitted use case in its database."""
    logs = tmp_path_factory.mktemp("board")
    password = secrets.token_urlsafe(16)
    with migrated_database("genai_board") as env:
        out = manage(env, "shell", "-c", f"PASSWORD = {password!r}\n" + WORLD + SUBMITTED).strip().splitlines()
        world, submitted = json.loads(out[-2]), json.loads(out[-1])
        assert submitted["tier"] == "low"
        with serving_gateway(env, logs) as base_url:
            portal = LivePortal(
                base_url=base_url,
                username="board-security",
                password=password,
                foreign_use_case_id=world["foreign_use_case_id"],
                foreign_use_case_name=world["foreign_use_case_name"],
                logs=logs,
            )
            yield BoardWorld(portal, submitted["review_id"], submitted["production_key"])


def chat(portal: LivePortal, key: str) -> str:
    client = openai.OpenAI(base_url=f"{portal.base_url}/v1", api_key=key, max_retries=0, timeout=30)
    reply = client.chat.completions.create(model="portal-chat", messages=[{"role": "user", "content": "approved?"}])
    return reply.choices[0].message.content


def served(portal: LivePortal, key: str) -> str | None:
    """The answer when the gateway serves this key, or None while it refuses it. Waiting on this,
    not on `refusal(...) is None` followed by a second call, because each gateway process follows a
    decision within its own local cache's seconds: the second call may reach one that has not yet."""
    try:
        return chat(portal, key)
    except openai.PermissionDeniedError:
        return None


def refusal(portal: LivePortal, key: str) -> openai.PermissionDeniedError | None:
    """The gateway's 403 for this key, or None when the call is served."""
    try:
        chat(portal, key)
    except openai.PermissionDeniedError as refused:
        return refused
    return None


def test_a_board_member_approves_suspends_and_reinstates_a_use_case_and_its_production_key_follows(
    board_world, browser
):
    portal = board_world.portal
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(portal, board_world.production_key)
    assert refused.value.code == "use_case_not_approved"

    log_in(browser, portal)
    browser.get(f"{portal.base_url}/admin/governance/review/")
    queue = shown(browser, "#result_list").text
    assert "retail/statement-summaries" in queue and "Retail Banking" in queue
    follow(browser, browser.find_element(By.LINK_TEXT, "retail/statement-summaries"))
    assert shown(browser, "#risk-tier").text == "Low"
    assert "Customers ask what their statement means." in browser.find_element(By.ID, "intake-snapshot").text
    browser.find_element(By.ID, "id_comment").send_keys("Low risk, internal staff check every summary.")
    follow(browser, browser.find_element(By.ID, "decide-approve"))

    message = shown(browser, "ul.messagelist li.success").text
    assert "approved" in message.lower()
    assert shown(browser, "#use-case-status").text == "Approved"
    assert "Low risk, internal staff check every summary." in browser.find_element(By.ID, "decision-history").text

    answer = wait_for(lambda: served(portal, board_world.production_key), what="the approval enforced")
    assert answer == '[sandbox] You said: "approved?"'

    # An incident: the board suspends the use case from the review's page, saying why.
    shown(browser, "#use-case-suspend")
    browser.find_element(By.ID, "id_reason").send_keys("INC-7: summaries quoted another customer's balance.")
    follow(browser, browser.find_element(By.ID, "use-case-suspend-button"))
    assert "Suspended" in shown(browser, "ul.messagelist li.success").text
    assert shown(browser, "#use-case-status").text == "Suspended"
    # Every gateway process enforces it within its local cache's seconds (genai_platform/hotcache.py).
    suspended = wait_for(lambda: refusal(portal, board_world.production_key), what="the suspension enforced")
    assert suspended.code == "use_case_not_approved" and "suspended" in str(suspended)

    browser.find_element(By.ID, "id_reason").send_keys("Fixed in release 2.3; checked by security.")
    follow(browser, browser.find_element(By.ID, "use-case-reinstate-button"))
    assert "Reinstated" in shown(browser, "ul.messagelist li.success").text
    assert shown(browser, "#use-case-status").text == "Approved"
    answer = wait_for(lambda: served(portal, board_world.production_key), what="the reinstatement enforced")
    assert answer == '[sandbox] You said: "approved?"'
