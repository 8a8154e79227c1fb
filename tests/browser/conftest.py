"""A live portal for browser tests: gunicorn on its own PostgreSQL database and Redis database
(Celery eager, so the sandbox provider answers in the gateway process), driven by Debian's
headless Chromium through Selenium and Debian's chromedriver. No browser is ever downloaded."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from tests.e2e.conftest import (
    PG_ADMIN_DSN,
    REDIS_BASE,
    clean_env,
    free_port,
    gateway_args,
    manage,
    running,
    wait_until_serving,
)

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")
#: Headless, and nothing that reaches for the network beyond 127.0.0.1 (this machine has none).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,1000",
)
MISSING_CHROMIUM = (
    "Browser tests need Debian's Chromium and its driver ({what} not found). `make test` must install them: "
    "`apt-get install -y chromium chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver)."
)
#: The live portal's Redis database (the e2e stacks use 12 and 13, `make test` 14).
PORTAL_REDIS_DB = os.environ.get("BROWSER_REDIS_DB", "11")

#: Runs in the portal's database through `manage.py shell`: a sandbox catalog, two LOBs, their admins,
#: and a use case of the other LOB that the browser must never see.
WORLD = """
import json
from django.contrib.auth import get_user_model
from django.db import transaction
from genai_platform.access.onboarding import lob_upsert
from genai_platform.access.services import membership_set
from lob_tenants.services import use_case_upsert
from model_catalog.services import alias_upsert, deployment_upsert, model_upsert, provider_account_upsert

with transaction.atomic():
    account = provider_account_upsert(name="sandbox", provider="sandbox", region="local")
    model = model_upsert(name="sandbox-chat")
    deployment = deployment_upsert(
        name="sandbox-chat-local", account=account, model=model, provider_model_id="sandbox-chat"
    )
    alias_upsert(name="portal-chat", deployments=[deployment], available_in_sandbox=True)
    retail = lob_upsert(slug="retail", name="Retail Banking")
    wealth = lob_upsert(slug="wealth", name="Wealth Management")
    foreign = use_case_upsert(lob=wealth, slug="private-banking-copilot", name="Private banking copilot")
    for lob in (retail, wealth):
        lob_admin = get_user_model().objects.create_user(f"{lob.slug}-admin", password=PASSWORD, is_staff=True)
        membership_set(lob=lob, user=lob_admin, role="lob_admin")
print(json.dumps({"foreign_use_case_id": foreign.pk, "foreign_use_case_name": foreign.name}))
"""


@dataclass(frozen=True)
class LivePortal:
    base_url: str
    username: str
    password: str
    foreign_use_case_id: int
    foreign_use_case_name: str
    logs: Path


@contextlib.contextmanager
def migrated_database(prefix: str) -> Iterator[dict[str, str]]:
    """A freshly migrated PostgreSQL database of its own and the portal's Redis db, emptied: the
    settings a browser test's processes run with. The database is dropped afterwards."""
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis_url = f"{REDIS_BASE}/{PORTAL_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = clean_env(DATABASE_URL=PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}", REDIS_URL=redis_url)
    try:
        manage(env, "migrate", "--noinput", "-v0")
        yield env
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextlib.contextmanager
def serving_gateway(env: dict[str, str], logs: Path) -> Iterator[str]:
    """A gunicorn gateway on `env`, yielded as its base URL once it answers."""
    port, log = free_port(), logs / "gateway.log"
    with running(gateway_args(port), env, log) as gateway:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url, gateway, log)
        yield base_url


@pytest.fixture(scope="module")
def live_portal(tmp_path_factory) -> Iterator[LivePortal]:
    logs = tmp_path_factory.mktemp("portal")
    password = secrets.token_urlsafe(16)
    with migrated_database("genai_portal") as env:
        world = json.loads(manage(env, "shell", "-c", f"PASSWORD = {password!r}\n" + WORLD).strip().splitlines()[-1])
        with serving_gateway(env, logs) as base_url:
            yield LivePortal(
                base_url=base_url,
                username="retail-admin",
                password=password,
                foreign_use_case_id=world["foreign_use_case_id"],
                foreign_use_case_name=world["foreign_use_case_name"],
                logs=logs,
            )


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium through its chromedriver; a failing test leaves a screenshot and
    the page's HTML in its tmp dir (named in the failure report)."""
    for what in (CHROMIUM, CHROMEDRIVER):
        if not Path(what).is_file():
            pytest.fail(MISSING_CHROMIUM.format(what=what))
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("Browser tests need Selenium: the dev extra must list `selenium>=4.20,<5`.")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    # A driver path given to Service means Selenium Manager (which would download one) never runs.
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.failure_dir = tmp_path
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        screenshot, html = driver.failure_dir / "failure.png", driver.failure_dir / "failure.html"
        try:
            driver.save_screenshot(str(screenshot))
            html.write_text(driver.page_source)
            report.sections.append(("browser", f"screenshot: {screenshot}\npage: {html}\nat: {driver.current_url}"))
        except Exception as error:  # the browser itself may be what failed
            report.sections.append(("browser", f"no screenshot: {error!r}"))
    return report
