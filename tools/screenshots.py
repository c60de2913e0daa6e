"""Screenshots of the monitoring dashboard for the documentation: docs/images/dashboard-*.png (1280x800).

    python tools/screenshots.py [--out docs/images] [--tasks 200000]

Builds a monitoring database like the dashboard's tests do (a generated run of `--tasks` tasks and the small
realistic runs: a pipeline with retries and failures, a live run, an older run), serves it, and photographs the
run list, a run's page, a failed task's page, the Gantt chart of the large run zoomed in, and the resources page
in Debian's Chromium (driven by Playwright). The PNGs are recompressed (zlib level 9) with the standard library.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1280, "height": 800}


def recompress(png: bytes) -> bytes:
    """The same image with its pixel data deflated at level 9 (Chromium writes PNGs fast, not small)."""
    chunks, position, pixels = [], 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            pixels += body
            continue
        if kind == b"IEND":
            chunks.append((b"IDAT", zlib.compress(zlib.decompress(pixels), 9)))
        chunks.append((kind, body))
    out = png[:8]
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--tasks", type=int, default=200_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from parlay_monitoring import testing as data  # generated runs, shared with the dashboard's tests

    # where the pipeline ran, as its pages show it (its output files are there while the pictures are taken)
    home = Path(tempfile.gettempdir()) / "alice" / "variant-calling"
    with tempfile.TemporaryDirectory(prefix="dashboard-shots-") as folder:
        shutil.rmtree(home, ignore_errors=True)
        path = Path(folder) / "runinfo" / "monitoring.db"
        path.parent.mkdir()
        engine = data.create_database(f"sqlite:///{path}")
        data.add_large_run(engine, data.LARGE_RUN, args.tasks)
        real = data.add_realistic_runs(engine, home)
        engine.dispose()
        args.out.mkdir(parents=True, exist_ok=True)
        with data.serving(path) as server, sync_playwright() as playwright:
            base = server.url.rstrip("/")
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", chromium_sandbox=False, args=data.CHROMIUM_ARGS
            )
            page = None

            def shoot(name: str, url: str, scroll_to: str | None = None, settle=None, scale: float = 1.0) -> None:
                """A 1280x800 picture of a page laid out on a screen 1/scale times as large."""
                nonlocal page
                if page is not None:
                    page.close()
                size = {"width": round(VIEWPORT["width"] / scale), "height": round(VIEWPORT["height"] / scale)}
                page = browser.new_page(viewport=size, device_scale_factor=scale)
                page.set_default_timeout(120_000)
                page.goto(base + url)
                page.wait_for_selector("body[data-ready]", state="attached")
                if settle:
                    settle()
                if scroll_to:
                    page.locator(scroll_to).first.evaluate(
                        "e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 60)"
                    )
                page.wait_for_timeout(400)
                target = args.out / f"dashboard-{name}.png"
                target.write_bytes(recompress(page.screenshot()))
                print(f"{target}: {target.stat().st_size // 1024} KiB")

            shoot("runs", "/")
            shoot("workflow", f"/workflows/{real.pipeline}", scale=0.8)
            shoot(
                "task",
                f"/workflows/{real.pipeline}/tasks/{real.failed_task}",
                settle=lambda: page.wait_for_function("document.querySelector('pre#stderr').textContent.length > 10"),
            )

            def zoom() -> None:  # the large run's Gantt chart, zoomed into some seconds by dragging across it
                gantt = page.locator("svg.gantt")
                gantt.scroll_into_view_if_needed()
                box = gantt.bounding_box()
                x, y = box["x"] + box["width"] * 0.55, box["y"] + 40
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + 5, y, steps=3)
                page.mouse.up()
                page.locator("svg.gantt rect.bar").first.wait_for(state="attached")

            def unfinished_and_zoom() -> None:
                page.locator("button", has_text="unfinished only").click()
                zoom()

            shoot("gantt", f"/workflows/{data.LARGE_RUN}", scroll_to="section", settle=unfinished_and_zoom, scale=0.8)
            shoot("resources", f"/workflows/{real.pipeline}/resources", scroll_to="section")
            browser.close()
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
