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
        await pilot.press("tab", "tab", "down", "enter")  # codes -> filter -> rows; a row's whole detail
        await settle(pilot)
        save("row")
        await pilot.press("escape", "p")
        await settle(pilot)
        from console.tui.screens.review import UNVERIFIED_CHOICES

        # refuse unverified emails (chosen by its place among the choices): see the effect
        await pilot.press(*["down"] * [v for v, _ in UNVERIFIED_CHOICES].index("refuse"), "enter")
        await settle(pilot, lambda: app.state.load.status == "loaded" and bool(app.state.previous_counts))
        save("policies")
        await pilot.press("r")  # the export against the instance's own settings (issue 13)
        await settle(pilot, lambda: app.state.readiness_status in ("done", "failed"))
        save("readiness")
        for step in ("import", "failures", "verify", "finish"):
            app.go_to(step)
            await settle(pilot)
            save(step)
        await pilot.press("f1")
        await settle(pilot)
        save("help")


async def shoot_load_accounts(url: str, out: Path, size: tuple[int, int], shots: dict[str, str]) -> None:
    """Load with a MongoDB export (mongoexport) and its accounts file beside it (issue 12 §2):
    the tests' own copies of what mongoexport writes for the Auth.js MongoDB adapter."""
    import shutil

    folder = Path(f"mongo-{size[0]}")
    folder.mkdir(mode=0o700, exist_ok=True)
    users = Path(shutil.copy(ROOT / "tests/data/mongo/users.relaxed.ndjson", folder / "users.ndjson"))
    accounts = Path(shutil.copy(ROOT / "tests/data/mongo/accounts.relaxed.ndjson", folder / "accounts.ndjson"))
    app = make_demo_app(url, DemoArea(folder, users, folder / "run"))
    async with app.run_test(size=size) as pilot:
        still(app)
        app.query_one("#demo-keys").focus()
        await pilot.press("enter")
        await settle(pilot, lambda: app.state.live.status != "checking")
        await pilot.press("ctrl+n", "tab", "tab", "tab", *str(accounts), "enter")
        await settle(pilot, lambda: app.state.load.status == "loaded")
        app.save_screenshot(shots["load"], path=str(out))
        app.query_one("#unknown-cols").focus()  # the columns the checks leave out: enter keeps one
        await settle(pilot)
        app.save_screenshot(shots["columns"], path=str(out))
        print(f"wrote {out / shots['load']}, {out / shots['columns']}", file=sys.stderr)


# -- part 2: Import, Failures, Verify, Finish, from a real import ----------------------
async def shoot_part2(server: SandboxServer, out: Path) -> None:
    """Real imports at full pace, each into a fresh sandbox instance where someone
    already signed up with the address of export row 5 (one failure to fix)."""
    import shutil

    shutil.copytree(ROOT / "tests/fixtures/apps/app-router", "my-app")
    await _shoot_part2_once(_part2_area(server, "demo2"), out, (120, 36), {
        "plan": "4-import-plan.svg",
        "running": "4-import-running.svg",
        "done": "4-import-done.svg",
        "failures": "5-failures.svg",
        "code": "5-failures-code.svg",
        "fix": "5-failures-fix.svg",
        "verify": "6-verify.svg",
        "sign-in": "6-verify-sign-in.svg",
        "sync-plan": "7-sync-plan.svg",
        "sync-done": "7-sync-done.svg",
        "finish": "7-finish.svg",
        "overwrite": "7-finish-sql-overwrite.svg",
        "claim": "7-finish-claim.svg",
        "app": "7-finish-app.svg",
        "patch": "7-finish-app-patch.svg",
        "undo": "7-finish-undo.svg",
    }, server.url, "demo")
    await _shoot_part2_once(_part2_area(server, "demo3", "demo-narrow"), out, (80, 24), {
        "running": "4-import-running-80x24.svg",
        "quit": "4-import-quit-80x24.svg",
        "failures": "5-failures-80x24.svg",
        "app-narrow": "7-finish-app-80x24.svg",
        "patch-narrow": "7-finish-app-patch-80x24.svg",
        "sync-plan": "7-sync-plan-80x24.svg",
    }, server.url, "demo-narrow")


def later_export(area: DemoArea) -> Path:
    """A later export of the demo's app, as a cut-over takes one: five users renamed, two with
    a new address, three gone, four new sign-ups (issue 14)."""
    import copy
    import json

    rows = json.loads(Path(area.export).read_text())
    out = [copy.deepcopy(r) for r in rows]
    for i in (10, 20, 30, 40, 50):
        out[i]["name"] = f"Renamed Person{i}"
    for i in (60, 70):
        out[i]["email"] = f"moved{i}@example.org"
    gone = {out[i]["id"] for i in (80, 90, 100)}
    out = [r for r in out if r["id"] not in gone]
    for k in range(4):
        out.append({"id": f"later{k:04d}", "name": f"Later User{k}", "email": f"later{k}@example.org",
                    "emailVerified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
                    "providers": []})
    path = Path(area.root) / "users-T1.json"
    path.write_text(json.dumps(out))
    return path


async def _sync_shots(pilot, app, area: DemoArea, save, until, busy) -> None:
    """Sync (step 7): the plan of a later export, then the sync in its worker."""
    later = later_export(area)
    app.go_to("sync")
    await pilot.pause()
    await pilot.press(*str(later), "enter")
    sync = app.pane("sync")
    await until(pilot, lambda: sync.plan is not None or sync.planner.error is not None)
    save("sync-plan")
    await pilot.press("ctrl+r")
    await until(pilot, lambda: app.state.job is not None and app.state.job.kind == "sync" and not busy()
                and (app.state.job.result is not None or app.state.job.refused is not None))
    result = app.state.job.result
    if result is None or result.exit_code not in (0, 1):
        raise SystemExit(f"the sync did not run: {app.state.job.refused or result}")
    await until(pilot, lambda: app.state.load.status == "loaded" and app.state.load.path is not None
                and app.state.load.path.resolve() == later.resolve())
    save("sync-done")


def first_email(area: DemoArea) -> str:
    """The email of the export's first importable row (a user the import created)."""
    from console.source import open_export

    return next(c.user.email for c in open_export(area.export).rows() if c.importable and c.user.email)


def _part2_area(server: SandboxServer, folder: str, key_name: str = "demo") -> DemoArea:
    import json

    from console.sandbox import make_key

    prepared = prepare_area(3000, 1, Path(folder))
    victim = json.loads(prepared.export.read_text())[4]
    server.seed_user(make_key("production", key_name), {"email_address": [victim["email"]],
                                                         "external_id": "signed-up-early",
                                                         "skip_password_requirement": True})
    return DemoArea(Path(folder), Path(folder) / prepared.export.name, Path(folder) / "run")


async def _shoot_part2_once(
    area: DemoArea, out: Path, size: tuple[int, int], shots: dict[str, str], url: str, key_name: str
) -> None:
    from console.sandbox import make_key
    from console.settings import SecretKey
    from console.tui.state import KeyChoice

    from console.commands.demo import demo_key_choices

    choices = demo_key_choices()
    if key_name != "demo":  # another instance of the sandbox: a key of its own
        choices[0] = KeyChoice("Production-style", SecretKey(make_key("production", key_name)))
    app = make_demo_app(url, area, key_choices=tuple(choices))

    async def until(pilot, condition, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("timed out driving the console")
            await asyncio.sleep(0.05)
        await pilot.pause()

    def save(moment: str) -> None:
        if moment in shots:
            still(app)
            app.save_screenshot(shots[moment], path=str(out))
            print(f"wrote {out / shots[moment]}", file=sys.stderr)

    async with app.run_test(size=size) as pilot:
        app.query_one("#demo-keys").focus()
        await pilot.press("enter")
        await until(pilot, lambda: app.state.live.status == "ok")
        await pilot.press("ctrl+n", "enter")
        await until(pilot, lambda: app.state.load.status == "loaded")
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.press(*"producti")
        save("plan")
        await pilot.press(*"on", "enter")
        def busy() -> bool:
            return app.state.job is not None and app.state.job.active

        await until(pilot, lambda: app.state.job is not None and app.state.job.snapshot is not None
                    and getattr(app.state.job.snapshot, "created", 0) >= 1200)
        await asyncio.sleep(0.3)
        save("running")
        if "quit" in shots:  # ctrl+q while the import runs: asked, and told what happens to it
            await pilot.press("ctrl+q")
            await pilot.pause()
            save("quit")
            await pilot.press("escape")
        await until(pilot, lambda: not busy() and app.state.job.result is not None)
        await until(pilot, lambda: app.state.run is not None and app.state.run.to_send == 0)
        save("done")
        await pilot.press("ctrl+n")
        failures = app.pane("failures")
        await until(pilot, lambda: len(failures.rows) >= 1)
        save("failures")
        if "code" in shots:  # enter on a code: its whole line (Clerk's words are cut in the table)
            app.query_one("#groups").focus()
            await pilot.press("down", "enter")
            await pilot.pause()
            save("code")
            await pilot.press("escape")
            app.query_one("#fail-rows").focus()
            await pilot.pause()
        if "app-narrow" in shots:  # Finish › App code at this size: the step's files and lines scroll
            finish = app.pane("finish")
            app.go_to("finish")
            await pilot.pause()
            await pilot.press("ctrl+t", "ctrl+t", *"my-app", "enter")
            await until(pilot, lambda: finish.app_code.scan is not None)
            app.query_one("#checklist").focus()
            await pilot.press("down", "down", "down", "down", "tab", "down")
            save("app-narrow")
            app.query_one("#checklist").focus()
            await pilot.press("v")  # the patch, file by file (issue 16)
            await pilot.press("down", "down", "down")
            save("patch-narrow")
            await pilot.press("escape")
        if "fix" not in shots:
            await _sync_shots(pilot, app, area, save, until, busy)
            return
        await pilot.press("enter")
        await until(pilot, lambda: "external_id" in str(app.screen.query_one("#fix-sent").render()))
        await pilot.press(*"nancy.nguyen@example.org")
        save("fix")
        await pilot.press("enter")
        await until(pilot, lambda: app.state.run.counts["failed"] == 0 and not busy())
        await pilot.press("ctrl+n", "a")
        verify = app.pane("verify")
        await until(pilot, lambda: verify.summary is not None or verify.refused is not None)
        save("verify")
        await pilot.press("i")  # sign in as a user: the password field is masked (issue 13 §5)
        await pilot.pause()
        await pilot.press(*first_email(area), "enter", *"typed, never shown")
        save("sign-in")
        await pilot.press("escape")
        await _sync_shots(pilot, app, area, save, until, busy)
        await pilot.press("ctrl+n", "enter")
        finish = app.pane("finish")
        await until(pilot, lambda: finish.ids.map_result is not None)
        app.query_one("#fk-columns").focus()
        await pilot.press(*"Post.authorId, Comment.userId", "enter")
        await until(pilot, lambda: finish.ids.sql_result is not None)
        save("finish")
        await pilot.press("ctrl+s")  # the same file again: asked before it is written over
        await pilot.pause()
        save("overwrite")
        await pilot.press("escape")
        tabs = app.query_one("#finish-tabs")
        tabs.active = "tab-claim"
        await pilot.pause()
        save("claim")
        tabs.active = "tab-app"
        await pilot.pause()
        app.query_one("#app-path").focus()
        await pilot.press(*"my-app", "enter")
        await until(pilot, lambda: finish.app_code.scan is not None)
        app.query_one("#checklist").focus()
        await pilot.press("down", "down")
        save("app")
        await pilot.press("v")  # the patch, file by file (issue 16)
        await pilot.press("down", "down", "down")
        save("patch")
        await pilot.press("escape")
        tabs.active = "tab-undo"
        await pilot.pause()
        app.query_one("#undo-preview").focus()
        await pilot.press("enter")
        await until(pilot, lambda: finish.undo.preview is not None)
        app.query_one("#undo-word").focus()
        save("undo")


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
            "readiness": "3-review-readiness.svg",
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
            "help": "help-80x24.svg",
        })
        await shoot_load_accounts(server.url, out, wide, {"load": "2-load-accounts.svg",
                                                          "columns": "2-load-columns.svg"})
        await shoot_load_accounts(server.url, out, (80, 24), {"load": "2-load-accounts-80x24.svg",
                                                               "columns": "2-load-columns-80x24.svg"})
        await shoot_part2(server, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write screenshots of the console from the real demo.")
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    asyncio.run(main(Path(parse_out := parser.parse_args().out).resolve()))
