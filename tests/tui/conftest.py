"""Fixtures of the console's tests: one sandbox per module, a demo run area,
and the demo app built exactly as `clerk-migrate demo` builds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.commands.demo import DemoArea, make_demo_app, prepare_area

from tui_support import FIXED_URL, SAMPLE_ROWS, SAMPLE_SEED, fixed_clock


@pytest.fixture(scope="module")
def sandbox_server():
    from console.sandbox import SandboxServer

    server = SandboxServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_area(tmp_path_factory) -> DemoArea:
    return prepare_area(SAMPLE_ROWS, SAMPLE_SEED, tmp_path_factory.mktemp("demo"))


@pytest.fixture
def demo_app(sandbox_server, demo_area):
    """A factory: the demo console on the module's sandbox, its URL shown as a
    fixed text and a fixed clock, so screens are reproducible."""

    def build(**kwargs):
        kwargs.setdefault("url_label", FIXED_URL)
        kwargs.setdefault("clock", fixed_clock)
        return make_demo_app(sandbox_server.url, demo_area, **kwargs)

    return build


@pytest.fixture
def relative_demo(tmp_path, monkeypatch, sandbox_server):
    """For snapshots: a demo area under the working directory, named by relative
    paths (a temporary folder's name would change every run)."""
    monkeypatch.chdir(tmp_path)
    area = prepare_area(SAMPLE_ROWS, SAMPLE_SEED, Path("demo"))
    area = DemoArea(Path("demo"), Path(os.path.relpath(area.export)), Path("demo/run"))

    def build(**kwargs):
        kwargs.setdefault("url_label", FIXED_URL)
        kwargs.setdefault("clock", fixed_clock)
        return make_demo_app(sandbox_server.url, area, **kwargs)

    return build
