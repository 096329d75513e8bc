"""Finish › App code › the patch (issue 16), at 80x24 by keys: the files the patch
rewrites, each with its diff (additions and removals in the theme's colours), what
is left for a hand edit with file:line and why, the advice for the app's versions
(the integer-user-id warning first), and the patch written 0600 — asked before an
existing file is written over — that `git apply` accepts on a clean tree."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from textual.color import Color
from textual.screen import ModalScreen

from console.appscan import scan_app
from console.appscan.patch import build_patch
from console.commands.demo import make_demo_app
from console.tui.widgets.patch_view import PatchScreen

from part2_support import fresh_area, synthetic_run, wait_for
from tui_support import FIXED_URL, region_text, screen_cells, screen_text

REPO = Path(__file__).resolve().parents[2]
# next-auth's official v5 example app (tests/fixtures/apps/nextauth-example says where it came from)
EXAMPLE = REPO / "tests/fixtures/apps/nextauth-example"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


def build(sandbox, area):
    synthetic_run(area, sandbox.url)
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)


async def scanned(pilot, path: Path) -> None:
    """Finish › App code by keys: the path, enter, the scan (and its patch) done."""
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.live.status == "ok"
                   and app.state.current == "verify", what="the reopened run")
    app.go_to("finish")
    await pilot.pause()
    await pilot.press("ctrl+t", "ctrl+t")
    await wait_for(pilot, lambda: app.focused is app.query_one("#app-path"), what="the App code tab")
    await pilot.press(*str(path), "enter")
    code = app.pane("finish").app_code
    await wait_for(pilot, lambda: code.patch is not None, what="the scan and its patch")
    await pilot.pause()


async def open_patch(pilot) -> PatchScreen:
    app = pilot.app
    assert app.focused is app.query_one("#checklist")  # the scan hands the focus to its result
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, PatchScreen), what="the patch screen")
    await pilot.pause()
    return app.screen  # type: ignore[return-value]


def text_of(app, widget) -> str:
    return " ".join(region_text(app, widget.region).split())


async def test_the_patch_file_by_file_with_coloured_lines_at_80x24(sandbox, area, tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "app")
    expected = build_patch(scan_app(tmp_path / "app"))
    assert len(expected.files) >= 3 and expected.left
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot, tmp_path / "app")
        outcome = str(app.query_one("#scan-outcome").render())
        assert f"rewrites {len(expected.files)} files" in outcome and f"leaves {len(expected.left)}" in outcome
        screen = await open_patch(pilot)
        listing = screen.query_one("#patch-list")
        scroll = screen.query_one("#patch-scroll")
        assert app.focused is listing
        success = Color.parse(app.theme_variables["text-success"]).rich_color.get_truecolor()
        error = Color.parse(app.theme_variables["text-error"]).rich_color.get_truecolor()

        seen_added = seen_removed = False
        for n, f in enumerate(expected.files):
            if n:
                await pilot.press("down")
                await pilot.pause()
            assert f.path in text_of(app, scroll)  # the view shows the highlighted file
            # its + and - lines in the theme's colours, page by page to the end of the diff
            await pilot.press("tab")
            assert app.focused is scroll
            while True:
                inside = scroll.content_region  # the focus bar and the scroll bars left out
                for row in screen_cells(app)[inside.y:inside.bottom]:
                    cells = [cell for cell in row[inside.x:inside.right] if cell[0].strip()]
                    line = "".join(c for c, _ in cells)
                    if not cells or line.startswith(("+++", "---")):
                        continue
                    colour = cells[0][1].color.get_truecolor() if cells[0][1].color else None
                    if line.startswith("+"):
                        assert colour == success, line
                        seen_added = True
                    elif line.startswith("-"):
                        assert colour == error, line
                        seen_removed = True
                before = scroll.scroll_y
                await pilot.press("pagedown")
                await pilot.pause()
                if scroll.scroll_y == before:
                    break
            await pilot.press("shift+tab")
            assert app.focused is listing
        assert seen_added and seen_removed

        # ] goes on from anywhere: the entries after the files
        await pilot.press("]")
        await pilot.pause()
        assert "touch points the patch leaves" in text_of(app, scroll)
        # into the view with enter; end reaches the last item left, with its file:line and why
        await pilot.press("enter")
        assert app.focused is scroll
        await pilot.press("end")
        await pilot.pause()
        last = expected.left[-1]
        shown = text_of(app, scroll)
        assert f"{last.file}:" in shown and str(last.line) in shown
        assert " ".join(last.why.split())[-30:] in shown
        # and the advice, by [ ] from the view
        await pilot.press("]")
        await pilot.pause()
        assert "Which @clerk/nextjs" in text_of(app, scroll)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ModalScreen)


async def test_writing_the_patch_asks_before_writing_over_and_git_applies_it(sandbox, area, tmp_path):
    app_dir = tmp_path / "app"
    shutil.copytree(EXAMPLE, app_dir)
    git = ["git", "-C", str(app_dir), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(app_dir)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True)
    target = Path(area.run_dir) / "app.diff"
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot, app_dir)
        screen = await open_patch(pilot)
        assert screen.query_one("#patch-path").value == str(target)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.written == target, what="the patch written")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert "git -C" in " ".join(str(screen.query_one("#patch-outcome").render()).split())
        check = subprocess.run([*git, "apply", "--check", str(target)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr

        # again: asked first; "Keep it" (the focused answer) keeps the file
        target.write_text("edited by hand\n")
        screen.written = None
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen, what="the question")
        assert "app.diff" in " ".join(screen_text(app).split())
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, what="the answer")
        await pilot.pause()
        assert target.read_text() == "edited by hand\n" and screen.written is None
        assert "kept as it was" in str(screen.query_one("#patch-outcome").render())
        # yes writes it over
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen, what="the question again")
        await pilot.press("shift+tab", "enter")
        await wait_for(pilot, lambda: screen.written == target, what="the patch written over")
        assert target.read_text().startswith("diff --git")


async def test_integer_user_ids_are_warned_and_their_advice_comes_first(sandbox, area, tmp_path):
    app_dir = tmp_path / "app"
    shutil.copytree(REPO / "tests/fixtures/apps/pages-router", app_dir)
    (app_dir / "prisma").mkdir()
    (app_dir / "prisma/schema.prisma").write_text("model User {\n  id    Int    @id @default(autoincrement())\n}\n")
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot, app_dir)
        band = app.query_one("#ids-warning")
        assert band.display and "Integer user ids" in str(band.render())
        screen = await open_patch(pilot)
        assert screen.query_one("#patch-warning").display
        await pilot.press("end")  # the last entry: the advice
        await pilot.pause()
        first = text_of(app, screen.query_one("#patch-scroll"))
        assert first.startswith("⚠ Integer user ids")


async def test_nothing_to_rewrite_says_so_and_writes_nothing(sandbox, area, tmp_path):
    app_dir = tmp_path / "plain"  # a Pages Router app on Clerk already, with nothing of Auth.js
    (app_dir / "pages").mkdir(parents=True)
    (app_dir / "package.json").write_text('{"dependencies": {"next": "15.3.0", "@clerk/nextjs": "^7.9.17"}}')
    (app_dir / ".env.example").write_text("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY=\nCLERK_SECRET_KEY=\n")
    (app_dir / "pages/index.tsx").write_text("export default function Home() { return <p>hi</p> }\n")
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot, app_dir)
        assert "nothing to rewrite" in str(app.query_one("#scan-outcome").render())
        screen = await open_patch(pilot)
        assert "Nothing to rewrite" in str(screen.query_one("#patch-outcome").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "nothing to write" in str(screen.query_one("#patch-outcome").render())
        assert not (Path(area.run_dir) / "app.diff").exists()


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_the_patch_view(snap_compare, sandbox, tmp_path, monkeypatch, size):
    from console.commands.demo import DemoArea

    monkeypatch.chdir(tmp_path)
    fresh_area(Path("demo"))
    area = DemoArea(Path("demo"), Path("demo/authjs-users.json"), Path("demo/run"))
    shutil.copytree(EXAMPLE, "app")
    app = build(sandbox, area)

    async def run_before(pilot):
        await scanned(pilot, Path("app"))
        await open_patch(pilot)
        await pilot.press("down", "down", "down")  # app/layout.tsx: additions and removals
        for box in pilot.app.screen.query("Input"):
            box.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
