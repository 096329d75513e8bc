"""`clerk-migrate scan-app PATH [--json] [--patch FILE.diff [--force]]`: the app's Auth.js touch
points, their Clerk replacements, and the mechanical rewrites as a unified diff."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.text import Text

from console.appscan import DONE, NOT_APPLICABLE, AppScanError, AppScanReport, scan_app
from console.appscan.patch import Patch, build_patch
from console.appscan.model import STEP_TITLES
from console.commands.common import EXIT_OK, EXIT_REFUSED, CommandError, emit_json

ROUTER_LABEL = {
    "app": "App Router",
    "pages": "Pages Router",
    "both": "App Router and Pages Router",
    "unknown": "router not recognised (no app/ or pages/ folder)",
}
STATUS_STYLE = {DONE: "green", NOT_APPLICABLE: "dim", "to do": "yellow bold"}
MAX_SKIPPED_LISTED = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "scan-app",
        help="list the app's Auth.js touch points and the Clerk replacement for each",
        description=(
            "Reads a Next.js project (never runs it) and lists every Auth.js touch point with "
            "file, line, the Clerk replacement and how to do it, plus a checklist in the order "
            "of Clerk's migration guide. .env files: variable names only, never values."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the Next.js project folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--patch", metavar="FILE.diff",
        help="write the mechanical rewrites as a unified diff (mode 0600) for `git apply` in PATH",
    )
    parser.add_argument("--force", action="store_true", help="with --patch: overwrite an existing FILE.diff")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    patch_path = Path(args.patch) if args.patch else None
    if patch_path is not None and patch_path.exists() and not args.force:
        raise CommandError(f"{patch_path}: already exists; pass --force to overwrite it", EXIT_REFUSED)
    if args.force and patch_path is None:
        raise CommandError("--force goes with --patch FILE.diff", EXIT_REFUSED)
    try:
        report = scan_app(Path(args.path))
    except AppScanError as exc:
        raise CommandError(str(exc), EXIT_REFUSED) from None
    patch: Patch | None = None
    if patch_path is not None:
        patch = build_patch(report)
        if not patch.empty:
            try:
                patch.write(patch_path, force=args.force)
            except FileExistsError:
                raise CommandError(f"{patch_path}: already exists; pass --force to overwrite it", EXIT_REFUSED) from None
            except OSError as exc:
                raise CommandError(f"{patch_path}: cannot write: {exc.strerror}", EXIT_REFUSED) from None
    if args.json:
        data = report.as_json()
        if patch is not None:
            data["patch"] = {"file": None if patch.empty else str(patch_path), **patch.as_json()}
            for f in data["patch"]["files"]:
                f.pop("diff", None)  # the diff is in the file; JSON says what it changes
        emit_json(data)
    else:
        console = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
        render(report, console)
        if patch is not None:
            render_patch(patch, patch_path, Path(args.path), console)
    return EXIT_OK


def render_patch(patch: Patch, path: Path, app: Path, console: Console) -> None:
    out = console.print
    out()
    if patch.empty:
        out(Text("Patch: nothing to rewrite mechanically; no file written", style="bold"))
    else:
        out(Text(f"Patch: {len(patch.files)} file(s) written to {path} (apply with: git -C {app} apply {path.resolve()})",
                 style="bold"))
        for f in patch.files:
            out(Text(f"  {f.action:<6} {f.path}"))
            for change in f.changes:
                out(Text(f"         {change}", style="dim" if console.is_terminal else ""))
    if patch.left:
        out()
        out(Text(f"Left for a hand edit ({len(patch.left)}): the patch does not touch these", style="bold"))
        for left in patch.left:
            out(Text.assemble((f"  {left.file}:{left.line}", "cyan"), f"  {left.construct}: {left.why}"))


def render(report: AppScanReport, console: Console) -> None:
    """The human listing. Every piece of project text goes in as `Text`, never markup
    (a route like `[...nextauth]` must print as itself)."""
    out = console.print
    out(Text.assemble(("Scanned ", ""), (report.path, "bold"), f" ({ROUTER_LABEL[report.router]})"))
    line = f"{report.files_scanned} files read, {report.files_skipped} skipped"
    if report.skipped:
        reasons = Counter(s.reason for s in report.skipped)
        line += " (" + ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) + ")"
    if report.dirs_pruned:
        line += f"; {report.dirs_pruned} dependency/build folder(s) not walked"
    out(Text(line))
    for skipped in report.skipped[:MAX_SKIPPED_LISTED]:
        out(Text(f"  skipped {skipped.file}: {skipped.reason}", style="dim"))
    if len(report.skipped) > MAX_SKIPPED_LISTED:
        out(Text(f"  ... and {len(report.skipped) - MAX_SKIPPED_LISTED} more", style="dim"))
    clerk = "installed" if report.clerk_installed else "not installed"
    extra = f"; next-auth {report.next_auth_version}" if report.next_auth_version else ""
    out(Text(f"@clerk/nextjs {clerk}{extra}; {len(report.findings)} Auth.js touch point(s)"))

    out()
    out(Text("Checklist (in the order of Clerk's migration guide)", style="bold"))
    for n, item in enumerate(report.checklist, 1):
        out(Text.assemble(
            f"{n:>2}. ",
            (f"[{item.status}]".ljust(17), STATUS_STYLE.get(item.status, "")),
            (item.title, "bold"),
        ))
        out(Text(f"      {item.detail}"))
        for ev in item.evidence[:5]:
            out(Text(f"      already: {ev}", style="green"))

    if report.protected_routes:
        out()
        out(Text("Routes the Auth.js middleware protected (recreate with createRouteMatcher)", style="bold"))
        for r in report.protected_routes:
            out(Text(f"  {r.route}    {r.file}:{r.line}"))

    grouped = report.by_step()
    if report.findings:
        out()
        out(Text("Touch points, by checklist step", style="bold"))
    for step, findings in grouped.items():
        if not findings:
            continue
        out()
        out(Text(STEP_TITLES.get(step, step), style="bold underline"))
        for f in findings:
            where = ", ".join(filter(None, [
                {"app": "App Router", "pages": "Pages Router"}.get(f.router or "", ""), f.context,
            ]))
            out(Text.assemble((f"{f.file}:{f.line}", "cyan"), f"  {f.authjs}", (f"  [{where}]" if where else "", "dim")))
            out(Text.assemble("    -> ", (f.clerk, "green")))
            out(Text(f"       {f.howto}", style="dim" if console.is_terminal else ""))
