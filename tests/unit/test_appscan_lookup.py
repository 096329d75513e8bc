"""The scan's fast path gives what the whole-tree query gives.

`scan_app` no longer runs the calls query over every parsed file: the detectors look their names
up in the bytes and ask the tree which node is there (syntax.calls_named / calls_a_hook), and
statements look for `type` / `default` in the bytes before listing their children. These tests
hold those shortcuts to the query they replace, on the fixture apps and on tricky sources, and
check that a scan forced through the whole query everywhere reports exactly the same."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest

from console.appscan import scan_app, syntax
from console.appscan.patch import build_patch

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
CODE = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
FIXTURE_FILES = sorted(p for p in APPS.rglob("*") if p.suffix in CODE and p.is_file())

TRICKY = {
    "tricky.tsx": (
        '"use client";\n'
        'import { useSession, signIn as login } from "next-auth/react";\n'
        "// useSession() in a comment, and in a string: 'useSession()'\n"
        "const a = useSession(); const b = useSession?.(); const c = useSession<string>();\n"
        "const d = useSessionX(); const e = xuseSession(); const f = obj.useSession(); const g = new useSession();\n"
        "const h = useSession(useSession(login())); const i = (useSession)(); const j = useSession\n  ();\n"
        "const k = useSessioné(); const l = éuseSession(); const m = login`tagged`; const n = $useSession();\n"
        "export function C() { return <useSession onClick={() => login()} />; }\n"
        "function useLocal() { return useState(0) } const o = <div>{useMemo(() => 1, [])}</div>;\n"
    ),
    "broken.ts": 'import { auth } from "@/auth"\nexport default class {\nconst s = await auth(;\nauth(auth()\n',
    "plain.js": "const x = useless(); const y = user(); function useThing() {}\nuseThing;\n",
    "member-only.ts": "export const v = React.useState(0); a.useEffect(() => {});\n",
}


def _sources():
    for path in FIXTURE_FILES:
        rel = path.relative_to(APPS).as_posix()
        yield rel, syntax.parse(rel, path.read_text())
    for rel, text in TRICKY.items():
        yield rel, syntax.parse(rel, text)


def _spans(matches):
    return [(caps["callee"][0].start_byte, caps["callee"][0].end_byte, caps["call"][0].start_byte,
             caps["call"][0].end_byte) for _, caps in matches if "callee" in caps]


def test_there_are_fixture_files_to_compare():
    assert len(FIXTURE_FILES) >= 40


@pytest.mark.parametrize("rel,source", list(_sources()), ids=lambda v: v if isinstance(v, str) else "")
def test_calls_named_is_the_calls_query_for_those_names(rel, source):
    full = syntax.captures(source, "calls")
    callees = [(source.text_of(caps["callee"][0]), caps) for _, caps in full if "callee" in caps]
    every = {name for name, _ in callees}
    # names that are called, prefixes/suffixes of them (found in the bytes, never a callee), absent ones
    names_sets = [
        every,
        {"useSession", "getServerSession", "SessionProvider", "signIn", "auth", "login"},
        {n[:-1] for n in every if len(n) > 1} | {n + "X" for n in every} | {"e", "use", "nothing"},
        set(),
    ]
    for names in names_sets:
        want = [(0, caps) for name, caps in callees if name in names]
        assert _spans(syntax.calls_named(source, names)) == _spans(want), (rel, sorted(names))
    hook = any(re.match(r"use[A-Z]", name) for name, _ in callees)
    assert syntax.calls_a_hook(source) is hook, rel


def test_tricky_source_finds_what_the_query_finds():
    source = syntax.parse("tricky.tsx", TRICKY["tricky.tsx"])
    found = [source.text_of(caps["callee"][0]) for _, caps in syntax.calls_named(source, {"useSession", "login"})]
    # a: 1, b: 1, c: 1, h: 2 + login, j: 1, JSX onClick login, tagged template login; never obj./new/(x)()/comments
    assert found.count("useSession") == 6
    assert found.count("login") == 3
    assert syntax.calls_a_hook(source)
    assert not syntax.calls_a_hook(syntax.parse("plain.js", TRICKY["plain.js"]))
    assert not syntax.calls_a_hook(syntax.parse("member-only.ts", TRICKY["member-only.ts"]))


def _everything(root: Path) -> tuple:
    report = scan_app(root)
    data = report.as_json()
    data.pop("path", None)
    patch = build_patch(report)
    return data, report.files_parsed, patch.text(), [(x.file, x.line, x.construct, x.why) for x in patch.left]


@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if p.is_dir()))
def test_scan_is_the_same_through_the_whole_query(app, monkeypatch):
    fast = _everything(APPS / app)
    # every file through the calls query over its whole tree (the path before the shortcuts)
    monkeypatch.setattr(syntax, "needs_all_calls", lambda source: True)
    slow = _everything(APPS / app)
    assert fast[0]["findings"], app  # the comparison is about something
    assert fast == slow


def test_the_collector_is_back_on_after_a_scan():
    assert gc.isenabled()
    scan_app(APPS / "t3-app")
    assert gc.isenabled()
    gc.disable()
    try:
        scan_app(APPS / "t3-app")
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
