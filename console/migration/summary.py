"""The import / retry / status `--json` object of cli-contract.md, from the journal."""

from __future__ import annotations

from typing import Any

from console.migration.journal import RunJournal


def run_summary(journal: RunJournal, *, details: bool = True, counts: dict[str, int] | None = None,
                sessions: list[dict[str, Any]] | None = None,
                retryable: int | None = None) -> dict[str, Any]:
    """Counts come from the journal (the truth), request figures from its sessions.

    `pending` includes rows still `creating` (both need another session);
    `creating` is given apart too. `requests`, `rate_limited`, `duration_s`
    add up every import/retry session of the run; `created_per_s` is the rows
    those sessions created divided by their duration. `counts`, `sessions`, `retryable`: the
    journal's, when the caller read them already (status reads them once).
    """
    info = journal.info
    counts = journal.counts() if counts is None else counts
    rows = sum(counts.values())
    sessions = journal.sessions() if sessions is None else sessions
    requests = sum(s["requests"] or 0 for s in sessions)
    rate_limited = sum(s["rate_limited"] or 0 for s in sessions)
    duration = sum(max(0.0, (s["ended_at"] or s["started_at"]) - s["started_at"]) for s in sessions)
    created_in_sessions = sum(s["created"] or 0 for s in sessions)
    out: dict[str, Any] = {
        "run": str(journal.run_dir),
        "instance": info.instance_kind,
        "rows": rows,
        "importable": rows - counts["refused"],
        "created": counts["created"],
        "existed": counts["existed"],
        "failed": counts["failed"],
        "refused": counts["refused"],
        "pending": counts["pending"] + counts["creating"],
        "creating": counts["creating"],
        "requests": requests,
        "rate_limited": rate_limited,
        "duration_s": round(duration, 2),
        "created_per_s": round(created_in_sessions / duration, 1) if duration > 0 else 0.0,
    }
    if details:
        out["export"] = info.export_path
        out["sha256"] = info.export_sha256
        out["base_url"] = info.base_url
        out["key"] = info.key_masked
        out["failures"] = [g.as_dict() for g in journal.failures_by_code("failed")]
        out["retryable"] = journal.count_retryable() if retryable is None else retryable
        out["refusals"] = journal.refusals_by_code()
        from console.migration.preflight import REFUSAL_CODES  # issue 13: rows the instance's settings refuse

        out["refused_by_settings"] = sum(n for code, n in out["refusals"].items() if code in REFUSAL_CODES)
        out["sessions"] = len(sessions)
        last = sessions[-1] if sessions else None
        out["last_session"] = (
            {"kind": last["kind"], "outcome": last["outcome"], "created": last["created"], "requests": last["requests"]}
            if last
            else None
        )
    return out
