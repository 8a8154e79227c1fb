"""A LOB admin in a real browser: logs into the portal, registers a use case, issues a sandbox key
that is shown once, calls the live gateway with it, and never sees another LOB's use case."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import LivePortal

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the `browser` fixture fails each test, saying what to install
    pass

pytestmark = pytest.mark.e2e


def shown(browser: WebDriver, css: str):
    """The element once the page shows it (polls the DOM; no sleeping)."""
    return WebDriverWait(browser, 15).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)))


def follow(browser: WebDriver, element) -> None:
    """Clicks a link or submit button and waits until the browser has left the page it was on.

    Without this a selector the next page shares with this one (a success message, a status)
    can match the old page's element, which then goes stale under the reader."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(page))


def log_in(browser: WebDriver, portal: LivePortal) -> None:
    browser.get(f"{portal.base_url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys(portal.username)
    browser.find_element(By.ID, "id_password").send_keys(portal.password)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))
    shown(browser, "#user-tools")


def register_use_case(browser: WebDriver, portal: LivePortal, *, slug: str, name: str, alias: str) -> None:
    browser.get(f"{portal.base_url}/admin/lob_tenants/usecase/add/")
    lob = Select(browser.find_element(By.ID, "id_lob"))
    assert [o.text for o in lob.options if o.get_attribute("value")] == ["Retail Banking"]
    lob.select_by_visible_text("Retail Banking")
    browser.find_element(By.ID, "id_slug").send_keys(slug)
    browser.find_element(By.ID, "id_name").send_keys(name)
    Select(shown(browser, "#id_aliases_from")).select_by_visible_text(alias)
    browser.find_element(By.ID, "id_aliases_add").click()
    follow(browser, browser.find_element(By.NAME, "_save"))
    shown(browser, "ul.messagelist li.success")


def issue_key(browser: WebDriver, portal: LivePortal, *, use_case: str, environment: str) -> tuple[str, str]:
    """Issues a key from the portal; returns its plaintext, as the page shows it, and its page's URL."""
    browser.get(f"{portal.base_url}/admin/lob_tenants/apikey/add/")
    Select(browser.find_element(By.ID, "id_use_case")).select_by_visible_text(use_case)
    browser.find_element(By.ID, "id_name").send_keys(f"{environment} key from the browser")
    Select(browser.find_element(By.ID, "id_environment")).select_by_value(environment)
    follow(browser, browser.find_element(By.NAME, "_save"))
    plaintext = shown(browser, "#issued-key").text
    key_page = browser.find_element(By.CSS_SELECTOR, "#content-main table a").get_attribute("href")
    return plaintext, key_page


def status_of(browser: WebDriver, url: str) -> int:
    """The HTTP status of `url` for the browser's session (WebDriver does not expose it)."""
    session = {"sessionid": browser.get_cookie("sessionid")["value"]}
    return httpx.get(url, cookies=session, follow_redirects=False, timeout=30).status_code


def test_a_lob_admin_registers_a_use_case_and_calls_the_gateway_with_a_sandbox_key_shown_once(live_portal, browser):
    log_in(browser, live_portal)

    register_use_case(browser, live_portal, slug="branch-faq", name="Branch FAQ bot", alias="portal-chat")
    listing = browser.find_element(By.ID, "result_list").text
    assert "Branch FAQ bot" in listing and "Draft" in listing

    plaintext, key_page = issue_key(browser, live_portal, use_case="retail/branch-faq", environment="sandbox")
    assert plaintext.startswith("sk-gp-")
    client = openai.OpenAI(base_url=f"{live_portal.base_url}/v1", api_key=plaintext, max_retries=0, timeout=30)
    reply = client.chat.completions.create(
        model="portal-chat", messages=[{"role": "user", "content": "hello from the portal"}]
    )
    assert reply.choices[0].message.content == '[sandbox] You said: "hello from the portal"'

    for page in (key_page, f"{live_portal.base_url}/admin/lob_tenants/apikey/"):
        browser.get(page)
        shown(browser, "#content")
        assert plaintext not in browser.page_source
        assert plaintext.split(".")[0].removeprefix("sk-gp-") in browser.page_source  # the public prefix is


def test_a_production_key_of_a_draft_use_case_is_refused_until_the_board_approves(live_portal, browser):
    log_in(browser, live_portal)
    register_use_case(browser, live_portal, slug="loan-letters", name="Loan letters", alias="portal-chat")

    plaintext, _ = issue_key(browser, live_portal, use_case="retail/loan-letters", environment="production")
    client = openai.OpenAI(base_url=f"{live_portal.base_url}/v1", api_key=plaintext, max_retries=0, timeout=30)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="portal-chat", messages=[{"role": "user", "content": "hi"}])

    assert refused.value.code == "use_case_not_approved"


def test_a_lob_admin_cannot_see_another_lobs_use_case(live_portal, browser):
    log_in(browser, live_portal)
    foreign_page = f"{live_portal.base_url}/admin/lob_tenants/usecase/{live_portal.foreign_use_case_id}/change/"

    browser.get(f"{live_portal.base_url}/admin/lob_tenants/usecase/")
    shown(browser, "#changelist")
    assert live_portal.foreign_use_case_name not in browser.page_source
    assert "Wealth Management" not in browser.page_source  # not even as a filter choice
    browser.get(foreign_page)

    assert live_portal.foreign_use_case_name not in browser.page_source
    assert status_of(browser, foreign_page) == 404
