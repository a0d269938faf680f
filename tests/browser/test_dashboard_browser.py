"""The dashboard in a real headless Chromium (Debian's, driven by its chromedriver).

A real ingest app and a real worker run on the session's Redis; the test makes tasks,
a dead letter and a schedule, signs in with an admin token and walks every page:
the queues with their live figures and charts, pause and resume, task search and a
task's detail, the dead letter (replayed by clicking, then seen succeeding), the
schedules and the workers. Every request the browser made must have gone to the
loopback address, and none may carry the token in its URL. Screenshots of each page at
1280x800 and 390x844 land in tests/browser/results/ (gitignored).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.history import MINUTE_MS, Sample
from conveyor_ingest.server import ApiRunner
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import QUEUES, ingest_settings, make_token

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402 - after the skip
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys as Key  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
RESULTS = Path(__file__).with_name("results")
ADMIN = make_token(sub="operator", scope="admin")
WAIT_S = 15
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class System:
    """Ingest and a worker on one event loop of their own thread, on loopback."""

    def __init__(self, redis_settings: RedisSettings, keys: Keys) -> None:
        self._redis_settings = redis_settings
        self._keys = keys
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self.flaky_calls = 0
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    def _registry(self) -> Registry:
        registry = Registry()

        @registry.handler("demo.ok")
        async def ok(_ctx: TaskContext, payload: Any) -> Any:
            return {"echo": payload}

        @registry.handler("demo.broken")
        async def broken(_ctx: TaskContext, _payload: Any) -> Any:
            msg = "always broken"
            raise ValueError(msg)

        @registry.handler("demo.flaky")
        async def flaky(_ctx: TaskContext, payload: Any) -> Any:
            self.flaky_calls += 1
            if self.flaky_calls == 1:  # the first run dies (max_attempts 1); a replay succeeds
                msg = "the upstream said no"
                raise RuntimeError(msg)
            return {"recovered": payload}

        return registry

    async def _serve(self) -> None:
        from aiohttp import web

        settings = ingest_settings(max_wait=20.0)
        runner = ApiRunner(create_app(settings, self._redis_settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        client = Redis.from_url(self._redis_settings.redis_url)
        worker_settings = WorkerSettings(
            block_ms=50, breaker_enabled=False, pause_check_interval=0.2, heartbeat_interval=1.0
        )
        worker = Worker(client, worker_settings, self._registry(), self._keys)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        working = asyncio.create_task(worker.run(self._stop))
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await working
            await runner.cleanup()
            await client.aclose()

    def __enter__(self) -> System:
        self._thread.start()
        assert self._started.wait(30), "the system did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The API's ``data`` for one admin request (from the test's own thread)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return json.loads(answer.read())["data"]


@pytest.fixture
def system(redis_url: str, keys: Keys, request: pytest.FixtureRequest) -> Iterator[System]:
    """Ingest and a worker serving the test's key namespace."""
    if request.node.callspec.params.get("redis_url") == "valkey":
        pytest.skip("the dashboard does not depend on the server kind: checked on one")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (make test-tools)")
    redis_settings = RedisSettings(redis_url=redis_url, key_prefix=keys.prefix, queues=QUEUES)
    with System(redis_settings, Keys(prefix=keys.prefix, queues=QUEUES)) as served:
        yield served


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium with its network log on."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-sync",
        "--disable-component-update", "--disable-default-apps", "--disable-extensions",
        "--window-size=1280,800",
    ):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        pytest.skip(f"chromium could not start here: {exc.msg}")
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_element(driver: Any, css: str, text: str | None = None) -> WebElement:
    """The first element matching ``css`` (and containing ``text``), within WAIT_S."""

    def found(_driver: Any) -> WebElement | bool:
        elements: list[WebElement] = driver.find_elements(By.CSS_SELECTOR, css)
        for element in elements:
            if text is None or text in element.text:
                return element
        return False

    element = WebDriverWait(driver, WAIT_S).until(found, f"no {css!r} with {text!r}")
    assert isinstance(element, WebElement)
    return element


def shoot(driver: Any, name: str) -> None:
    """Screenshots of the current page at both sizes (desktop last: the size it goes on at)."""
    RESULTS.mkdir(exist_ok=True)
    for size in ("phone", "desktop"):
        width, height = SIZES[size]
        driver.set_window_rect(width=width, height=height)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(RESULTS / f"{name}-{size}.png"))


def go(driver: Any, base: str, fragment: str, heading: str) -> None:
    """Navigate to a page by its hash and wait for its heading."""
    driver.get(f"{base}/dashboard#{fragment}")
    wait_for_element(driver, "h1", heading)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser requested, from its network log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def seed_history(redis_url: str, keys: Keys) -> None:
    """Forty minutes of samples before this one, as the sampler would have stored them."""
    now = time.time_ns() // 1_000_000 // MINUTE_MS * MINUTE_MS
    totals = {"enqueued": 0, "succeeded": 0, "retried": 0, "dead": 0, "cancelled": 0}
    client = SyncRedis.from_url(redis_url)
    try:
        for back in range(40, 0, -1):
            minute = now - back * MINUTE_MS
            totals["succeeded"] += 30 + (back * 7) % 25
            totals["retried"] += back % 4
            totals["dead"] += 1 if back % 9 == 0 else 0
            totals["enqueued"] += 32 + (back * 7) % 25
            sample = Sample(at_ms=minute, backlog=(back * 13) % 40, dead_letters=0, **totals)
            client.zadd(keys.history("default"), {sample.to_json(): minute})
    finally:
        client.close()


def seed(system: System) -> dict[str, str]:
    """Tasks that succeed, dead letters, a scheduled task and a schedule; returns ids."""
    done = [
        system.call("POST", "/api/v1/tasks", {"type": "demo.ok", "payload": {"n": n}})
        for n in range(3)
    ]
    dying = system.call(
        "POST", "/api/v1/tasks", {"type": "demo.flaky", "payload": {"order": 42}, "max_attempts": 1}
    )
    for n in range(2):
        system.call(
            "POST", "/api/v1/tasks", {"type": "demo.broken", "payload": n, "max_attempts": 1}
        )
    later = system.call("POST", "/api/v1/tasks", {"type": "demo.ok", "payload": 0, "delay": 3600})
    system.call("POST", "/api/v1/schedules", {
        "id": "nightly-report", "cron": "0 30 2 * * *", "timezone": "UTC",
        "task": {"type": "demo.ok", "payload": {"kind": "daily"}, "queue": "default"},
    })  # fmt: skip
    return {"done": done[0]["id"], "dying": dying["id"], "later": later["id"]}


def dead_letters(system: System) -> int:
    """How many dead letters the default queue holds (from the API)."""
    return len(system.call("GET", "/api/v1/dead-letters?queue=default&limit=100")["items"])


def row_with(driver: Any, css: str, text: str) -> WebElement:
    """The row matching ``css`` whose text holds ``text``."""
    return wait_for_element(driver, css, text)


def test_dashboard_pages_show_real_data_and_actions_work_in_chromium(
    system: System, browser: Any, redis_url: str, keys: Keys
) -> None:
    seed_history(redis_url, Keys(prefix=keys.prefix, queues=QUEUES))
    ids = seed(system)
    base = f"http://127.0.0.1:{system.port}"
    browser.get(f"{base}/dashboard")
    wait_for_element(browser, "#token").send_keys(ADMIN)
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()

    # Overview: both queues with live figures (the stream) and the last hour's charts.
    wait_for_element(browser, "#live", "live")
    wait_for_element(browser, "tr[data-queue=default] td:nth-child(7)", "3")  # dead letters
    row = wait_for_element(browser, "tr[data-queue=default]")
    assert "running" in row.text
    assert wait_for_element(browser, "tr[data-queue=other]")
    lines = WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "section.queue-charts polyline")
    )
    assert max(len(line.get_attribute("points").split()) for line in lines) >= 39
    shoot(browser, "1-overview")

    # Keyboard: Tab moves along real links, Enter follows one.
    browser.find_element(By.CSS_SELECTOR, ".top a[href='#/tasks']").send_keys(Key.TAB)
    assert browser.switch_to.active_element.text == "Dead letters"
    browser.switch_to.active_element.send_keys(Key.ENTER)
    wait_for_element(browser, "h1", "Dead letters")

    # Queue detail: pause, seen by the API; then resume.
    go(browser, base, "/queues/default", "Queue")
    wait_for_element(browser, "button", "Pause queue").click()
    wait_for_element(browser, "button", "Resume queue")
    figures = {q["queue"]: q["paused"] for q in system.call("GET", "/api/v1/queues")["items"]}
    assert figures == {"default": True, "other": False}
    wait_for_element(browser, "h1 .badge", "paused")
    wait_for_element(browser, "tr[data-queue=default] .badge", "paused")
    shoot(browser, "2-queue-paused")
    wait_for_element(browser, "button", "Resume queue").click()
    wait_for_element(browser, "button", "Pause queue")
    assert not system.call("GET", "/api/v1/queues")["items"][0]["paused"]

    # Task search by filters, one task's detail, and cancelling a scheduled task.
    go(browser, base, "/tasks?queue=default&status=succeeded", "Tasks")
    wait_for_element(browser, "tbody a", ids["done"]).click()
    wait_for_element(browser, "h1", ids["done"])
    wait_for_element(browser, "h1 .badge", "succeeded")
    assert '"echo"' in browser.find_element(By.CSS_SELECTOR, "section pre").text
    shoot(browser, "3-task")
    go(browser, base, "/tasks?queue=default", "Tasks")
    wait_for_element(browser, "tbody a", ids["dying"])
    shoot(browser, "4-tasks")
    go(browser, base, f"/tasks/{ids['later']}", "Task")
    wait_for_element(browser, "h1 .badge", "scheduled")
    wait_for_element(browser, "button", "Cancel task").click()
    wait_for_element(browser, "h1 .badge", "cancelled")
    assert system.call("GET", f"/api/v1/tasks/{ids['later']}")["status"] == "cancelled"

    # The dead letter: listed, inspected (payload shown), replayed by a click, succeeds.
    go(browser, base, "/dead-letters?queue=default", "Dead letters")
    flaky_row = row_with(browser, "tbody tr", "demo.flaky")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
    shoot(browser, "5-dead-letters")
    flaky_row.find_element(By.CSS_SELECTOR, "a").click()
    wait_for_element(browser, "h1", "Dead letter")
    wait_for_element(browser, "pre", "upstream said no")
    assert '"order": 42' in wait_for_element(browser, "pre[data-payload]").text
    shoot(browser, "6-dead-letter")
    wait_for_element(browser, "button", "Replay this task").click()
    wait_for_element(browser, "p[role=status] a", "task").click()
    wait_for_element(browser, "h1 .badge", "succeeded")
    assert "recovered" in browser.find_element(By.CSS_SELECTOR, "section pre").text
    assert system.flaky_calls == 2

    # Replay by filter (they die again: a replay leaves its dead letter, so 3 + 2), then
    # purge with the in-page confirmation.
    go(browser, base, "/dead-letters?queue=default", "Dead letters")
    row_with(browser, "tbody tr", "demo.broken")
    browser.find_element(By.ID, "r-type").send_keys("demo.broken")
    wait_for_element(browser, "button", "Replay matching").click()
    wait_for_element(browser, "p[role=status]", "Replayed 2 dead letter(s)")
    WebDriverWait(browser, WAIT_S).until(lambda _d: dead_letters(system) == 5, "replays died")
    go(browser, base, "/dead-letters?queue=default", "Dead letters")
    row_with(browser, "tbody tr", "demo.broken")
    wait_for_element(browser, "button", "Purge the dead letters").click()
    wait_for_element(browser, "[role=alertdialog]", "cannot be undone")
    shoot(browser, "9-purge-confirm")
    wait_for_element(browser, "button", "Yes, delete them").click()
    wait_for_element(browser, "p.notice", "has no dead letters")
    assert dead_letters(system) == 0

    # Schedules with their description and next fires, paused and resumed.
    go(browser, base, "/schedules", "Schedules")
    schedule = wait_for_element(browser, "tr[data-schedule=nightly-report]")
    assert "demo.ok" in schedule.text
    assert "02:30" in schedule.text
    shoot(browser, "7-schedules")
    wait_for_element(browser, "tr[data-schedule=nightly-report] button", "Pause").click()
    wait_for_element(browser, "tr[data-schedule=nightly-report] .badge", "paused")
    listed = system.call("GET", "/api/v1/schedules/nightly-report")
    assert listed["schedule"]["enabled"] is False
    wait_for_element(browser, "tr[data-schedule=nightly-report] button", "Resume").click()
    wait_for_element(browser, "tr[data-schedule=nightly-report] .badge", "enabled")

    # Workers: the live worker with its heartbeat.
    go(browser, base, "/workers", "Workers")
    worker = wait_for_element(browser, "tr[data-consumer]", "default")
    assert "s ago" in worker.text
    shoot(browser, "8-workers")

    urls = requested_urls(browser)
    assert any(url.endswith("/api/v1/stream/overview") for url in urls)
    remote = [urlsplit(u) for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")]
    outside = [u.geturl() for u in remote if u.hostname not in LOOPBACK]
    assert outside == [], f"requests left the host: {outside}"
    assert not [u for u in urls if ADMIN in u], "the token appeared in a URL"
    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == [], f"the page logged errors: {problems}"
