"""Write screenshots/*.svg from the real demo console.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts the sandbox, prepares the demo's run area (3,000 sample users, seed 1)
in a temporary folder, builds the console exactly as `clerk-migrate demo`
does (`make_demo_app`), drives it with Pilot in a headless terminal and saves
one SVG per step at 120x36, and a few at 80x24. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from console.commands.demo import DemoArea, make_demo_app, prepare_area
from console.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[1]


async def settle(pilot, condition=lambda: True, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if condition():
            return
        if time.monotonic() > deadline:
            raise SystemExit("timed out driving the console")


def still(app) -> None:
    for box in app.query(Input):
        box.cursor_blink = False


async def shoot(url: str, area: DemoArea, out: Path, size: tuple[int, int], kind: int, shots: dict[str, str]) -> None:
    """Drive one console session; `shots` maps a moment to the file name."""
    app = make_demo_app(url, area)
    async with app.run_test(size=size) as pilot:
        still(app)

        def save(moment: str) -> None:
            if moment in shots:
                app.save_screenshot(shots[moment], path=str(out))
                print(f"wrote {out / shots[moment]}", file=sys.stderr)

        await settle(pilot)
        save("start")
        radio = app.query_one("#demo-keys")
        radio.focus()
        await pilot.pause()
        if kind:
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot, lambda: app.state.live.status != "checking")
        if kind:
            app.query_one("#dev-guard").scroll_visible(animate=False)
            await settle(pilot)
        save("setup")
        await pilot.press("ctrl+n", "enter")
        await settle(pilot, lambda: app.state.load.status == "loaded")
        save("load")
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: app.query_one("#detail").row_count > 0)
        save("review")
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        save("row")
        await pilot.press("escape", "p")
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # refuse unverified emails: see the effect
        await settle(pilot, lambda: app.state.load.status == "loaded" and bool(app.state.previous_counts))
        save("policies")
        for step in ("import", "failures", "verify", "finish"):
            app.go_to(step)
            await settle(pilot)
            save(step)
        await pilot.press("f1")
        await settle(pilot)
        save("help")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clerk-migrate-shots-") as tmp, SandboxServer() as server:
        os.chdir(tmp)  # relative paths on screen: no temporary folder names
        prepared = prepare_area(3000, 1, Path("demo"))
        area = DemoArea(Path("demo"), Path("demo") / prepared.export.name, Path("demo/run"))
        wide = (120, 36)
        await shoot(server.url, area, out, wide, 0, {
            "start": "1-setup-start.svg",
            "setup": "1-setup.svg",
            "load": "2-load.svg",
            "review": "3-review.svg",
            "row": "3-review-row.svg",
            "policies": "3-review-policies.svg",
            "failures": "5-failures.svg",
            "verify": "6-verify.svg",
            "finish": "7-finish.svg",
            "help": "help.svg",
        })
        await shoot(server.url, area, out, wide, 1, {
            "setup": "1-setup-development.svg",
            "import": "4-import.svg",  # blocked: the guard and the Development cap
        })
        await shoot(server.url, area, out, (80, 24), 0, {
            "setup": "1-setup-80x24.svg",
            "load": "2-load-80x24.svg",
            "review": "3-review-80x24.svg",
        })


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write screenshots of the console from the real demo.")
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    asyncio.run(main(Path(parse_out := parser.parse_args().out).resolve()))
