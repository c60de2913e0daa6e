"""A real workflow recorded by `MonitoringHub` on the thread executor, then browsed with the dashboard: its run,
tasks, failure, tries, dependencies and output file, as JSON and in Chromium."""

from __future__ import annotations

import pytest

from parlay.testing import TIMEOUT, workflow_apps
from parlay_monitoring import testing as data  # generated runs, shared with the benchmark


def test_a_monitored_workflow_shows_on_the_dashboard(run_monitored, sqlite_url, tmp_path):
    out, err = str(tmp_path / "echo.out"), str(tmp_path / "echo.err")
    counter = str(tmp_path / "counter")

    def workflow():
        adds = [workflow_apps.add(n, 1) for n in range(4)]
        both = workflow_apps.add(adds[0], adds[1])
        retried = workflow_apps.fail_until(counter, 1)
        failing = workflow_apps.fail("nope")
        echo = workflow_apps.echo("hello dashboard", stdout=out, stderr=err)
        assert [f.result(TIMEOUT) for f in [*adds, both, retried, echo]] == [1, 2, 3, 4, 3, 2, 0]
        with pytest.raises(ValueError, match="nope"):
            failing.result(TIMEOUT)
        return {"adds": [f.tid for f in adds], "both": both.tid, "retried": retried.tid, "failing": failing.tid,
                "echo": echo.tid}  # fmt: skip

    ids = run_monitored("threads", workflow)
    database = sqlite_url[len("sqlite:///") :]
    with data.serving(database) as server:
        url = server.url.rstrip("/")
        runs = data.get_json(f"{url}/api/workflows")
        assert runs["total"] == 1
        run = runs["items"][0]
        assert not run["live"] and run["tasks"] == {
            "total": 8,
            "done": 7,
            "failed": 1,
            "by_state": {"exec_done": 7, "failed": 1},
        }
        api = f"{url}/api/workflows/{run['run_id']}"
        summary = data.get_json(api)
        assert summary["counts"] == {"exec_done": 7, "failed": 1} and summary["tries"] == 10  # two retried
        assert {a["name"] for a in summary["apps"]} == {"add", "fail_until", "fail", "echo"}
        states = data.get_json(f"{api}/states")
        assert states["sample"]["exact"] and {s: v[-1] for s, v in states["series"].items() if v[-1]} == {
            "exec_done": 7,
            "failed": 1,
        }
        apps = {a["name"]: a for a in data.get_json(f"{api}/apps")["apps"]}
        assert apps["add"]["runtime"]["tries"] == 5 and apps["fail"]["failed"] == 1
        gantt = data.get_json(f"{api}/gantt")
        assert gantt["mode"] == "bars" and len(gantt["bars"]) == 10
        assert {b["lane"] for b in gantt["bars"]} == {"threads"}
        failed = data.get_json(f"{api}/tasks?state=failed")
        assert [(t["task_id"], t["exception"]) for t in failed["items"]] == [(ids["failing"], "ValueError: nope")]
        task = data.get_json(f"{api}/tasks/{ids['failing']}")
        assert task["exception"] == "ValueError: nope"
        assert len(task["tries"]) == 2 and all("nope" in t["exception"] for t in task["tries"])
        assert task["states"][0]["state"] == "pending" and task["states"][-1]["state"] == "failed"
        both = data.get_json(f"{api}/tasks/{ids['both']}")
        assert [d["task_id"] for d in both["dependencies"]] == ids["adds"][:2]
        first = data.get_json(f"{api}/tasks/{ids['adds'][0]}")
        assert ids["both"] in [d["task_id"] for d in first["dependents"]]
        echo = data.get_json(f"{api}/tasks/{ids['echo']}")
        assert echo["streams"]["stdout"] == {"recorded": out, "available": True, "size": len("hello dashboard\n")}
        code, _, body = data.fetch(f"{url}/files/{run['run_id']}/{ids['echo']}/stdout")
        assert code == 200 and body == b"hello dashboard\n"
        # and in a browser
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", chromium_sandbox=False, args=data.CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors = []
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.set_default_timeout(60_000)
            page.goto(url + "/")
            page.locator("a.run-link").click()
            page.wait_for_selector("body[data-ready]", state="attached")
            expect(page.locator("svg.gantt rect.bar")).to_have_count(10)
            page.locator("section", has_text="Failed tasks").locator("a.task-link").click()
            page.wait_for_selector("body[data-ready]", state="attached")
            expect(page.locator("#exception")).to_have_text("ValueError: nope")
            browser.close()
        assert errors == []
