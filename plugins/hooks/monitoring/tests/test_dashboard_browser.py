"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): each page draws the runs' data,
a failed task's traceback is a few clicks from the run list, the Gantt zooms, a live run's page refreshes, and
no page logs a JavaScript error."""

from __future__ import annotations

import shutil
import time

import pytest
from sqlalchemy import create_engine, text

from parlay_monitoring import testing as data  # generated runs, shared with the benchmark

CHROMIUM = "/usr/bin/chromium"
ARGS = data.CHROMIUM_ARGS
WAIT = 60_000  # ms: generous, for a busy machine


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return data.shared_database(tmp_path_factory)


@pytest.fixture(scope="module")
def site(db):
    with data.serving(db.path) as server:
        yield server.url.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, chromium_sandbox=False, args=ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A browser page that records JavaScript errors and waits for the dashboard's first drawing."""

    def __init__(self, browser, base):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT)
        self.errors = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, path):
        self.page.goto(self.base + path)
        self.ready()
        return self.page

    def ready(self):
        self.page.wait_for_selector("body[data-ready]", state="attached")


@pytest.fixture
def tab(browser, site):
    opened = Tab(browser, site)
    yield opened
    opened.context.close()
    assert opened.errors == []


def test_the_run_list_shows_every_run(tab, db):
    from playwright.sync_api import expect

    page = tab.open("/")
    names = page.locator("a.run-link")
    expect(names).to_have_text(["squares", "variant-calling", "hello", "climate-ensemble"])
    row = page.locator("tr", has=page.locator("a.run-link", has_text="climate-ensemble"))
    done = db.large.states["exec_done"] + db.large.states["memo_done"]
    failed = db.large.states["failed"] + db.large.states["dep_fail"]
    expect(row).to_contain_text(f"{done:,} / {failed:,} of 100,000")
    expect(page.locator("tr", has_text="squares").locator(".badge")).to_have_text("running")
    expect(page.locator("#live")).to_contain_text("live")


def test_a_run_page_draws_its_states_gantt_apps_and_failures(tab, db):
    from playwright.sync_api import expect

    page = tab.open(f"/workflows/{db.realistic.pipeline}")
    expect(page.locator("h1")).to_contain_text("variant-calling")
    states = page.locator("section", has_text="Tasks by state over time")
    answer = data.get_json(f"{tab.base}/api/workflows/{db.realistic.pipeline}/states")
    drawn = [name for name in answer["states"] if any(answer["series"][name])]
    assert len(drawn) >= 8
    expect(states.locator("path.series")).to_have_count(len(drawn))  # one area per state the run went through
    assert all(
        len(d) > 100 for d in states.locator("path.series").evaluate_all("ps => ps.map(p => p.getAttribute('d'))")
    )
    expect(page.locator("svg.gantt rect.bar")).to_have_count(47)
    expect(page.locator("svg.gantt rect.bar.failed")).to_have_count(6)  # tasks 12 (twice), 40, and 7, 21, 35 once
    apps = page.locator("section").filter(has=page.get_by_role("heading", name="Apps", exact=True)).locator("tbody tr")
    expect(apps).to_have_count(4)
    failed = page.locator("section", has_text="Failed tasks")
    expect(failed.locator("a.task-link")).to_have_text(["#12", "#40"])
    expect(failed).to_contain_text("ValueError: truncated FASTQ record")
    # the chart shows only the tasks not yet finished when asked
    states.locator("button", has_text="unfinished only").click()
    names = states.locator("path.series").evaluate_all("ps => ps.map(p => p.dataset.name)")
    assert names and not {"exec_done", "failed"} & set(names)


def test_a_large_run_page_draws_sampled_charts_and_zooms_into_each_try(tab, db):
    from playwright.sync_api import expect

    page = tab.open(f"/workflows/{data.LARGE_RUN}")
    states = page.locator("section", has_text="Tasks by state over time")
    expect(states.locator(".note")).to_contain_text("estimated from the state changes of")
    expect(states.locator("path.series").first).to_be_attached()
    gantt = page.locator("svg.gantt")
    assert gantt.locator("rect.cell").count() > 1000
    expect(page.locator("svg.gantt .lane-label").first).to_have_text("htex / block 0")
    gantt.scroll_into_view_if_needed()
    box = gantt.bounding_box()
    y = box["y"] + 30
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 4, y, steps=2)
    page.mouse.move(x + 8, y, steps=2)
    page.mouse.up()
    expect(page.locator("svg.gantt rect.bar").first).to_be_attached()
    expect(page.locator("section", has_text="Tries per executor and block").locator(".note")).to_contain_text("tries")
    expect(page.locator("button", has_text="Whole run")).to_be_visible()
    apps = page.locator("section").filter(has=page.get_by_role("heading", name="Apps", exact=True))
    expect(apps.locator(".note")).to_contain_text("estimated from the tries of 50,000 of 100,000 tasks")


def test_a_failed_tasks_traceback_is_two_clicks_from_the_run_list(tab, db):
    from playwright.sync_api import expect

    page = tab.open("/")
    page.locator("a.run-link", has_text="variant-calling").click()
    tab.ready()
    page.locator("section", has_text="Failed tasks").locator("a.task-link", has_text="#12").click()
    tab.ready()
    expect(page.locator("h1")).to_contain_text("Task 12: align")
    expect(page.locator("#exception")).to_contain_text("ValueError: truncated FASTQ record")
    expect(page.locator("pre#stderr")).to_contain_text("Traceback (most recent call last):")
    expect(page.locator("pre#stderr")).to_contain_text('raise ValueError(f"truncated FASTQ record')
    tries = page.locator("section", has_text="Tries").locator("tbody tr")
    expect(tries).to_have_count(2)
    # its stderr opens as a file; its dependency and its dependents are links
    href = page.locator("a.stream-link").nth(1).get_attribute("href")
    assert href == f"/files/{db.realistic.pipeline}/12/stderr"
    expect(page.locator("a.dep")).to_have_text(
        ["exec_done#2 fetch_inputs", "exec_done#22 align", "dep_fail#30 call_variants"]
    )
    page.locator("a.dep", has_text="#30").click()
    tab.ready()
    expect(page.locator("#exception")).to_contain_text("DependencyError")
    expect(page.locator("section", has_text="Tries")).to_contain_text("never ran")


def test_blocks_nodes_and_resources_pages(tab, db):
    from playwright.sync_api import expect

    run = db.realistic.pipeline
    page = tab.open(f"/workflows/{run}/blocks")
    blocks = page.locator("section", has_text="Blocks").filter(has=page.locator("table")).first
    expect(blocks.locator("tbody tr")).to_have_count(4)
    expect(blocks).to_contain_text("QOSMaxSubmitJobPerUserLimit")
    expect(page.locator("section", has_text="Blocks by state").locator("path.series")).to_have_count(4)
    expect(page.locator("section", has_text="Workers connected").locator("path.series")).to_have_count(1)
    expect(page.locator("section", has_text="Nodes").locator("tbody tr")).to_have_count(3)
    page = tab.open(f"/workflows/{run}/resources")
    # the apps whose tasks ran (report's two never did)
    expect(page.locator("section", has_text="Resource use per app").locator("tbody tr")).to_have_count(3)
    expect(page.locator("section", has_text="Resident memory of running tasks").locator("path.series")).to_have_count(3)
    assert page.locator("section", has_text="Peak resident memory").locator("rect.bin").count() >= 4
    top = page.locator("section", has_text="largest peak memory")
    expect(top.locator("tbody tr")).to_have_count(20)
    page = tab.open(f"/workflows/{run}/tasks/{db.realistic.retried_task}")
    expect(page.locator("section", has_text="Resource use").locator("path.series")).to_have_count(6)  # 3 per try


def test_a_live_runs_page_refreshes_as_its_database_changes(browser, db, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "monitoring.db"
    shutil.copy(db.path, path)
    run = db.realistic.live
    with data.serving(path, poll=1.0) as server:
        tab = Tab(browser, server.url.rstrip("/"))
        try:
            page = tab.open(f"/workflows/{run}")
            chip = page.locator("a.chip", has_text="exec_done")
            expect(chip).to_contain_text("8")
            expect(page.locator("#live")).to_contain_text("refreshes every 1 s")
            now = time.time()
            writer = create_engine(f"sqlite:///{path}")
            with writer.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE task SET parlay_state = 'exec_done', time_returned_unix = :t "
                        "WHERE run_id = :r AND task_id = 8"
                    ),
                    {"t": now, "r": run},
                )
                connection.execute(
                    text(
                        "INSERT INTO status (task_id, task_status_name, timestamp, run_id, try_id, timestamp_unix) "
                        "VALUES (8, 'exec_done', :when, :r, 0, :t)"
                    ),
                    {"when": "2030-01-01 00:00:00.000000", "r": run, "t": now},
                )
            writer.dispose()
            expect(chip).to_contain_text("9", timeout=WAIT)
            expect(page.locator("a.chip", has_text="running")).to_contain_text("3")
        finally:
            tab.context.close()
    assert tab.errors == []
