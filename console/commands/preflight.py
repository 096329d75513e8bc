"""`clerk-migrate preflight EXPORT [--accounts FILE] [--map …] [--legal skip|column:NAME] [--json]`:
the export against the instance's own settings and identity, before any write.

Reads the settings from Clerk's Frontend API (publishable key: CLERK_PUBLISHABLE_KEY or
NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY, env or .env; CLERK_FRONTEND_API_URL overrides the host),
checks every row in one streaming pass, and with a secret key asks the Backend API which
instance it is (and, for a Development one, how many users fit). Writes nothing.

Exit 0 ready, 1 some rows the instance would refuse (or a blocker the import would stop
at), 2 unreadable input, a bad option, or Clerk unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from console.commands.common import CommandError, emit_json, note

SHOWN_EXAMPLES = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    from console.commands.import_ import add_export_options

    parser = sub.add_parser(
        "preflight",
        help="check the export against the instance's own settings and identity; writes nothing",
        description="Check an Auth.js export against the Clerk instance's settings (required identifiers, "
        "attributes turned off, the password rule, legal consent, social connections) read from the Frontend "
        "API, and the instance behind the secret key. Exit 0 ready, 1 some rows the instance would refuse, "
        "2 unreadable input or unreachable Clerk.",
    )
    parser.add_argument("export", metavar="EXPORT", help="the Auth.js users export (JSON, NDJSON, CSV, mongoexport)")
    parser.add_argument("--accounts", metavar="FILE", default=None,
                        help="the Auth.js accounts export: joins each user's OAuth providers by userId")
    parser.add_argument("--legal", metavar="skip|column:NAME", default=None,
                        help="when the instance requires legal consent: skip (skip_legal_checks) or column:NAME "
                        "(legal_accepted_at from the export's column NAME)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_export_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands.import_ import load_key_settings, mapping_from_args, policies_from_args
    from console.migration.preflight import parse_legal, preflight
    from console.source.model import Policies

    legal = parse_legal(args.legal)  # PreflightError: one line, exit 2 (cli.main)
    settings = load_key_settings()
    policies = Policies(**(policies_from_args(args) or {}))
    mapping = mapping_from_args(args)
    try:
        readiness = asyncio.run(preflight(args.export, settings, legal=legal, accounts=args.accounts,
                                          fmt=args.format, mapping=mapping, policies=policies))
    except ValueError as exc:  # a bad --map (PreflightError and ExportError reach cli.main as they are)
        raise CommandError(str(exc), 2) from None
    except OSError as exc:
        raise CommandError(f"{args.export}: cannot read: {exc.strerror or exc}", 2) from None
    for line in readiness.not_checked:
        note(f"clerk-migrate: not checked: {line}")
    if args.json:
        emit_json(readiness.as_json())
    else:
        print(human_report(readiness))
    return readiness.exit_code


def human_report(r: Any) -> str:
    s = r.settings
    if s.get("checked"):
        where = f"settings from {s.get('url') or 'the Frontend API'} (digest {str(s.get('digest'))[:12]})"
    else:
        where = "the instance's settings not checked"
    inst = r.instance
    who = ""
    if inst.get("checked") and inst.get("id"):
        who = f", instance {inst['id']} ({inst.get('environment_type')}, key {inst.get('key')})"
    lines = [f"preflight {r.export}: {where}{who}"]
    if s.get("checked"):
        parts = [f"required {', '.join(s['required']) or 'nothing'}",
                 f"turned off {', '.join(s['turned_off']) or 'nothing'}",
                 f"password {s['password']}",
                 f"legal consent {'required' if s['legal_consent'] else 'not required'}"
                 + (f" ({r.rules.legal})" if r.rules is not None and r.rules.legal else ""),
                 f"social {', '.join(s['providers']) or 'none'}"]
        lines.append("  instance: " + "; ".join(parts))
    lines.append(f"  rows {r.rows:,}: ready {r.importable:,}, refused {r.refused:,} (by the export's checks "
                 f"{r.refused_by_export:,}, by the instance's settings {r.refused_by_settings:,})")
    for f in r.findings:
        if f.source == "export" and f.severity == "warning":
            continue  # validate lists these; the counts are in --json
        rows = ", ".join(str(e["row"]) for e in f.examples[:SHOWN_EXAMPLES])
        more = f" (rows {rows}{'…' if f.count > SHOWN_EXAMPLES else ''})" if rows else ""
        lines.append(f"  {f.severity:<7} {f.code:<24} {f.count:>8,}  {f.message}{more}")
    warned = sum(f.count for f in r.findings if f.source == "export" and f.severity == "warning")
    if warned:
        lines.append(f"  {'warning':<7} {'(export checks)':<24} {warned:>8,}  imported with a stated change: "
                     "see `clerk-migrate validate`")
    for b in r.blockers:
        lines.append(f"  blocker {b['code']}: {b['message']}")
    lines.append("  ready: every row fits the instance" if r.ready else
                 "  not ready: the rows above would be refused" + (" and the import would not start"
                                                                    if r.blockers else ""))
    return "\n".join(lines)



# ----------------------------------------------------------------------------- import and retry (issue 13 §1)
def read_settings_or_exit(settings: Any):
    """The instance's settings for an import/retry session (SettingsRead; its settings None without a
    publishable key). PreflightError (exit 2, one line) when they cannot be read."""
    from console.migration.preflight import read_instance_settings

    return asyncio.run(read_instance_settings(settings))


def rules_for_new_run(settings: Any, legal_text: str | None, mapping: dict[str, str] | None, *,
                      confirmed_production: bool) -> tuple[dict[str, str] | None, dict[str, Any], Any]:
    """A new run: (mapping with the --legal column, run settings holding the BodyRules, the read).
    The key's guards first (their one line, as before); refuses (exit 2) an instance that requires
    legal consent when no --legal policy is given. What could not be checked is said by say_plan.
    Refusals are MigrationErrors (one line, exit 2, by cli.main)."""
    from console.migration.blockers import local_blockers
    from console.migration.preflight import SETTINGS_KEY, mapping_with_legal, parse_legal, plan_rules

    for blocker in local_blockers(None, settings, kind="import", confirmed_production=confirmed_production):
        raise blocker.error()
    read = read_settings_or_exit(settings)
    legal = parse_legal(legal_text)
    rules = plan_rules(read, legal)
    mapping = mapping_with_legal(mapping, legal)
    return mapping, {SETTINGS_KEY: rules.as_dict()}, read


def settle_run(journal: Any, settings: Any, legal_text: str | None = None, read: Any = None, *,
               kind: str = "import", confirmed_production: bool = False, codes: Any = None,
               row_nos: Any = None) -> Any:
    """Before a session sends: every blocker (blockers.run_blockers: the key's guards, the run's
    instance, another session, the export and its accounts file, the instance's settings and
    the legal policy) refused with the first one's line (exit 2); then the run's rules settled
    (stored when the settings changed in a way that does not matter) and the plan's lines about
    them said. The Development room is left to the session (or to --detach's check). Returns
    the Preflight."""
    from console.migration.blockers import run_blockers
    from console.migration.preflight import parse_legal, settle_run_rules

    legal = parse_legal(legal_text)
    pre = asyncio.run(run_blockers(journal, settings, kind=kind, confirmed_production=confirmed_production,
                                   codes=codes, row_nos=row_nos, legal=legal, read=read, check_room=False))
    pre.raise_first()
    _, lines = settle_run_rules(journal, pre.read, legal)
    for line in lines:
        note(f"clerk-migrate: {line}")
    return pre


def say_plan(journal: Any) -> None:
    """What the instance's settings do to this run, said once before sending."""
    from console.migration.preflight import BodyRules, NO_PUBLISHABLE_KEY, run_lines

    rules = BodyRules.of_run(journal.info)
    if rules is not None and not rules.checked:
        note(f"clerk-migrate: not checked: {NO_PUBLISHABLE_KEY}")
    for line in run_lines(journal):
        note(f"clerk-migrate: {line}")


def resume_mapping(mapping: dict[str, str] | None, legal_text: str | None) -> dict[str, str] | None:
    """A resume given --map and --legal column:NAME: the mapping as the run stored it."""
    from console.migration.preflight import mapping_with_legal, parse_legal

    return mapping_with_legal(mapping, parse_legal(legal_text))
