"""Load checks a big export in a process of its own (feed.ExportProcess), so that a
reopened million-row run's re-read does not share the console's GIL with every key
(issue 17: Failures' pages). The threshold is lowered to 0 bytes here so that the demo's
export goes that way; the report must be the one validate_export makes in this process,
an unreadable file must fail in place with its one line, and a load replaced by a newer
one must leave no checking process behind."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from console.source import validate_export
from console.source.model import Policies
from console.tui.app import make_app
from console.tui.options import ConsoleOptions
from console.settings import SecretKey, Settings

from part2_support import wait_for
from test_console_flow import choose_demo_key, load_suggested_export
from tui_support import wait_until

CHILD_MARK = "_child_main"


def checking_children() -> list[int]:
    """The pids of this process's children that are ExportProcess children."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            if ppid != me:
                continue
            if CHILD_MARK in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def spy_on_processes(monkeypatch, instances: list | None = None) -> list[str]:
    """Record each ExportProcess's target (the real class still runs the child)."""
    from console.tui import export_pass

    started: list[str] = []
    real = export_pass.ExportProcess

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, target, *args):
            started.append(target.__qualname__)
            super().__init__(target, *args)
            self.frames: list[str] = []
            if instances is not None:
                instances.append(self)

        def next(self):
            frame = super().next()
            self.frames.append("end" if frame is None else frame[0])
            return frame

    monkeypatch.setattr(export_pass, "ExportProcess", Spy)
    return started


def loads(started: list[str]) -> list[str]:
    return [name for name in started if name.startswith("validate")]  # (the Readiness pass has its own)


async def test_a_big_export_is_checked_in_a_process_with_the_same_report(demo_app, demo_area, monkeypatch):
    started = spy_on_processes(monkeypatch)
    app = demo_app(load_process_from_bytes=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await choose_demo_key(pilot, 0)
        await load_suggested_export(pilot)
        assert app.state.load.status == "loaded", app.state.load.error
        assert loads(started) == ["validate_export_emitting"]
        truth = validate_export(demo_area.export, instance_kind="production")
        report = app.state.report
        assert report.as_json() == truth.as_json()
        assert app.state.load.rows == truth.rows  # the child's progress reached Load
        assert app.state.issue_index is not None and len(app.state.issue_index.issues) == len(truth.issues)

        # a policy change checks again, in a process again, with the new policy applied there
        app.state.policies = Policies(unverified_email="refuse")
        app._revalidate()
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.report is not report,
                         what="the re-check")
        assert loads(started) == ["validate_export_emitting"] * 2
        expected = validate_export(demo_area.export, policies=Policies(unverified_email="refuse"),
                                   instance_kind="production")
        assert (app.state.report.refused, app.state.report.importable) == (expected.refused, expected.importable)


async def test_the_readiness_pass_of_a_big_export_runs_in_a_process_with_the_same_answer(demo_app, demo_area,
                                                                                          monkeypatch):
    from console.migration.preflight import preflight

    started = spy_on_processes(monkeypatch)
    app = demo_app(load_process_from_bytes=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await choose_demo_key(pilot, 0)
        await load_suggested_export(pilot)
        await wait_for(pilot, lambda: app.state.readiness_status in ("done", "failed"), what="the readiness pass")
        assert app.state.readiness_status == "done", app.state.readiness_error
        assert started == ["validate_export_emitting", "check_export_emitting"]
        truth = await preflight(demo_area.export, app.state.settings, legal=app.state.legal,
                                policies=app.state.policies, check_identity=False)
        got = app.state.readiness

        def same_read(readiness) -> dict:  # the settings were read twice: a second apart
            out = readiness.as_json() | {"duration_s": 0}
            out["rules"] = out["rules"] | {"read_at": 0}
            return out

        assert same_read(got) == same_read(truth)
        assert got.findings and got.findings == truth.findings
        assert got.rows == truth.rows > 0


async def test_a_small_export_stays_in_a_thread(demo_app, monkeypatch):
    started = spy_on_processes(monkeypatch)
    app = demo_app()  # the default threshold: 16 MB; the demo's export is a few KB
    async with app.run_test(size=(120, 36)) as pilot:
        await choose_demo_key(pilot, 0)
        await load_suggested_export(pilot)
        assert app.state.load.status == "loaded" and started == []
        await wait_for(pilot, lambda: app.state.readiness_status in ("done", "failed"), what="the readiness pass")
        assert app.state.readiness_status == "done" and started == []


def plain_console(sandbox_server, export: Path, *, load_process_from_bytes: int):
    """A console (not the demo) on the sandbox with `export` filled into Load."""
    settings = Settings(SecretKey("sk_live_" + "b" * 40), "env", sandbox_server.url)
    return make_app(ConsoleOptions(settings=settings, export_path=export, clock=lambda: 0.0, auto_live_check=False,
                                   load_process_from_bytes=load_process_from_bytes))


async def test_an_unreadable_export_fails_in_place_from_the_process(sandbox_server, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "u1", "email": "a@example.test"}, {"id": ')
    app = plain_console(sandbox_server, broken, load_process_from_bytes=0)
    async with app.run_test(size=(120, 36)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status in ("failed", "loaded"), what="the load")
        assert app.state.load.status == "failed"
        error = app.state.load.error
        assert "broken.json" in error and "\n" not in error and "Traceback" not in error
        assert error == _in_process_error(broken)  # the same one line as a load in this process


def _in_process_error(path: Path) -> str:
    from console.source import ExportError

    try:
        validate_export(path)
    except ExportError as exc:
        return str(exc)
    raise AssertionError("the broken export was read")


async def test_a_newer_load_kills_the_process_of_the_one_it_replaces(sandbox_server, tmp_path, monkeypatch):
    children: list = []
    spy_on_processes(monkeypatch, children)
    big = tmp_path / "big.ndjson"
    with big.open("w") as fh:
        for n in range(300_000):
            fh.write(json.dumps({"id": f"u{n}", "name": "Ada Lovelace", "email": f"u{n}@example.test",
                                 "emailVerified": "2024-01-01T00:00:00Z"}) + "\n")
    small = tmp_path / "small.json"
    small.write_text(json.dumps([{"id": "s1", "name": "Ada Lovelace", "email": "s1@example.test",
                                  "emailVerified": "2024-01-01T00:00:00Z"}]))
    app = plain_console(sandbox_server, big, load_process_from_bytes=1024)
    async with app.run_test(size=(120, 36)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.state.load.status == "loading" and app.state.load.rows > 0,
                       what="the big export's progress from its process")
        assert len(checking_children()) == 1
        app.start_load(small)  # a newer load: the big one's process goes
        await wait_for(pilot, lambda: app.state.load.status == "loaded" and app.state.load.path == small,
                       what="the small export")
        assert app.state.report.rows == 1
        await wait_for(pilot, lambda: not checking_children(), what="the replaced load's process to go")
        # killed, not left to finish: the big load's child was ended by a signal
        assert len(children) == 1 and children[0]._proc.returncode == -signal.SIGKILL  # (the small one: a thread)
        assert "progress" in children[0].frames and "report" not in children[0].frames
