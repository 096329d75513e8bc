"""Link a failed row to the Clerk user that already holds its email (issue 15 item 17).

A row fails `form_identifier_exists` (param `email_address`) when its address belongs to a
Clerk user made outside this run: the person signed up on the new app already, or another
tool imported them. Rather than giving the row another address, the operator may *link* it:
that user gets the export row's id as its `external_id` (PATCH /v1/users/{id}), and the row
is journaled `existed` with that user's id: the id map, verify and the app's session claim
then treat it like any user that was there before. Never `created`: undo must not delete a
user this run did not make (and the user carries no run marker, so it would not anyway).

    plan = await plan_links(journal, settings, row_nos=[17])     # reads only: who holds each email
    plan.items        # LinkItem(row, external_id, email, clerk_user_id, current_external_id, action, reason)
    result = await link_rows(journal, settings, plan)            # PATCHes the `link` items, journals them

What is refused (`action` != "link", nothing sent for the row):
- `other_external_id`: the Clerk user already has another external_id (another row, another
  app's id): linking would take it away;
- `not_found`: nobody holds the address now (deleted meanwhile): retry the row instead;
- `no_external_id`: the row has no id to give;
- `not_failed`: the row is not failed (it was settled meanwhile).
`already`: the user holds this row's id already (an earlier link whose answer was lost, or
the app set it): journaled `existed` without a request.

Before a PATCH the users are read again (100 per request): a user given another external_id
since the plan is refused then, never overwritten. A lost answer (5xx, timeout) is followed by
a read of that user: the row is journaled only when Clerk holds the id. One RequestBudget for
the session, the run's lock held, the instance confirmed first (GET /v1/instance), like every
session. `LinkJob` (kind "link") runs it as a job: `retry --link-existing`, the worker, the
console's Failures fix modal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from console.migration.errors import first_line
from console.migration.jobs import BaseJob, JobResult, register_job
from console.migration.journal import RowRecord, RunJournal

BATCH = 100  # emails / ids per read (Clerk's maximum per filter)
LINK_ACTIONS = ("link", "already", "other_external_id", "not_found", "no_external_id", "not_failed")
DEFAULT_CODES = ("form_identifier_exists",)


@dataclass(frozen=True)
class LinkItem:
    row: int
    external_id: str | None
    email: str | None
    clerk_user_id: str | None  # the Clerk user holding the email (None: nobody)
    current_external_id: str | None  # that user's external_id now
    action: str  # one of LINK_ACTIONS
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LinkPlan:
    items: list[LinkItem] = field(default_factory=list)
    requests: int = 0

    @property
    def to_link(self) -> list[LinkItem]:
        return [i for i in self.items if i.action == "link"]

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)

    def as_json(self) -> dict[str, Any]:
        return {"rows": len(self.items), "to_link": len(self.to_link), "already": self.count("already"),
                "refused": sum(1 for i in self.items if i.action not in ("link", "already")),
                "requests": self.requests, "items": [i.as_dict() for i in self.items]}


@dataclass(frozen=True, slots=True)
class LinkProgress:
    total: int = 0
    linked: int = 0
    already: int = 0
    refused: int = 0
    failed: int = 0
    requests: int = 0
    state: str = "running"  # reading, running, done, stopped
    message: str = ""


@dataclass
class LinkResult:
    linked: int = 0  # PATCHed and journaled existed
    already: int = 0  # held the id already: journaled existed without a PATCH
    refused: int = 0  # not linked by the rule (other external id, nobody holds the email, …)
    failed: int = 0  # Clerk refused the PATCH or its answer stayed unknown
    requests: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)  # every row: its plan and what happened
    complete: bool = True
    message: str | None = None

    @property
    def exit_code(self) -> int:
        if not self.complete:
            return 130
        return 1 if (self.refused or self.failed) else 0

    def as_json(self) -> dict[str, Any]:
        return {"linked": self.linked, "already": self.already, "refused": self.refused, "failed": self.failed,
                "requests": self.requests, "complete": self.complete, "exit_code": self.exit_code,
                "message": self.message, "items": self.items}




# ----------------------------------------------------------------------------- which rows
def link_candidates(journal: RunJournal, *, codes: Sequence[str] | None = None,
                    row_nos: Sequence[int] | None = None) -> list[RowRecord]:
    """The failed rows to consider: the given rows, else those with the given codes, else every
    `form_identifier_exists` whose email belongs to another Clerk user (param email_address)."""
    if row_nos:
        return [r for r in (journal.get_row(int(n)) for n in row_nos) if r is not None]
    out: list[RowRecord] = []
    for rec in journal.iter_rows(status="failed", code=list(codes or DEFAULT_CODES)):
        if codes or rec.error_param == "email_address":
            out.append(rec)
    return out


def _judge(rec: RowRecord, holder: Any) -> LinkItem:
    base = dict(row=rec.row_no, external_id=rec.external_id, email=rec.email,
                clerk_user_id=holder.id if holder is not None else None,
                current_external_id=holder.external_id if holder is not None else None)
    if rec.status != "failed":
        return LinkItem(**base, action="not_failed", reason=f"the row is {rec.status} now: nothing to link")
    if not rec.external_id:
        return LinkItem(**base, action="no_external_id", reason="the row has no id to give to the Clerk user")
    if holder is None:
        return LinkItem(**base, action="not_found",
                        reason=f"no Clerk user holds {rec.email} now: retry the row instead (clerk-migrate retry "
                               f"--row {rec.row_no})")
    if holder.external_id == rec.external_id:
        return LinkItem(**base, action="already", reason="the Clerk user holds this row's id already")
    if holder.external_id:
        return LinkItem(**base, action="other_external_id",
                        reason=f"Clerk user {holder.id} already has the external_id {holder.external_id!r}: linking "
                               "would take it away; not linked")
    return LinkItem(**base, action="link",
                    reason=f"Clerk user {holder.id} gets external_id {rec.external_id!r}; the row becomes existed")


# ----------------------------------------------------------------------------- the plan (reads only)
async def plan_links(journal: RunJournal, settings: Any, *, codes: Sequence[str] | None = None,
                     row_nos: Sequence[int] | None = None, client: Any = None, rate: float | None = None,
                     timeout: float = 30.0) -> LinkPlan:
    """Who holds each candidate row's email now (100 per request), and what a link would do.
    Reads only (the instance is not confirmed here: link_rows does it before any write)."""
    from console.migration.run import check_same_instance

    check_same_instance(journal, settings)
    rows = [r for r in link_candidates(journal, codes=codes, row_nos=row_nos)]
    own = client is None
    client = client or _client(journal, settings, rate, timeout)
    base = client.budget.requests
    try:
        plan = LinkPlan()
        for i in range(0, len(rows), BATCH):
            page = rows[i:i + BATCH]
            emails = [r.email for r in page if r.email]
            holders = await client.users_by_emails(emails) if emails else {}
            for rec in page:
                plan.items.append(_judge(rec, holders.get((rec.email or "").lower())))
        plan.requests = client.budget.requests - base
        return plan
    finally:
        if own:
            await client.aclose()


def _client(journal: RunJournal, settings: Any, rate: float | None, timeout: float) -> Any:
    from console.clerk.client import ClerkClient
    from console.clerk.limiter import RequestBudget

    key = settings.secret_key
    budget = RequestBudget.for_instance(journal.info.instance_kind or key.instance_kind, rate=rate)
    return ClerkClient(key, settings.base_url, budget, timeout=timeout)


# ----------------------------------------------------------------------------- the links
async def link_rows(journal: RunJournal, settings: Any, plan: LinkPlan, *, client: Any = None,
                    rate: float | None = None, timeout: float = 30.0,
                    on_progress: Callable[[LinkProgress], None] | None = None,
                    stop: threading.Event | None = None) -> LinkResult:
    """Do the plan's links, under the run's lock, after one GET /v1/instance. Each `link` item's
    user is read again first (another external_id since the plan: refused, never overwritten),
    then PATCHed; each outcome is journaled (`existed` with the user's id) as soon as Clerk's
    answer says the id is there. RunRefused for a guard (key, instance, busy)."""
    from console.clerk.errors import AuthenticationError, ClerkError, IdentifierExists, NotFound, UnknownOutcome
    from console.migration.run import check_key_guards, check_same_instance, confirm_instance, run_lock

    check_key_guards(settings, confirmed_production=True)  # the run was confirmed when import created it
    check_same_instance(journal, settings)
    stop = stop or threading.Event()
    result = LinkResult()
    own = client is None
    client = client or _client(journal, settings, rate, timeout)
    budget = client.budget
    base = budget.requests

    def emit(state: str = "running", message: str = "") -> None:
        if on_progress is not None:
            try:
                on_progress(LinkProgress(total=len(plan.items), linked=result.linked, already=result.already,
                                         refused=result.refused, failed=result.failed,
                                         requests=budget.requests - base, state=state, message=message))
            except Exception:  # noqa: BLE001 - a display never breaks a link
                pass

    def settle(item: LinkItem, outcome: str, user_id: str | None = None, message: str = "") -> None:
        if outcome in ("linked", "already"):
            journal.record([("existed", item.row, user_id)])
        result.items.append({**item.as_dict(), "outcome": outcome, "message": message or item.reason})
        if outcome == "linked":
            result.linked += 1
        elif outcome == "already":
            result.already += 1
        elif outcome == "failed":
            result.failed += 1
        else:
            result.refused += 1

    try:
        with run_lock(journal.run_dir, "link"):
            await confirm_instance(journal, settings, client)
            started = time.time()
            emit()
            for item in plan.items:
                if item.action not in ("link", "already"):
                    settle(item, "refused")
            todo = [i for i in plan.items if i.action in ("link", "already")]
            for n in range(0, len(todo), BATCH):
                if stop.is_set():
                    break
                page = todo[n:n + BATCH]
                current = await client.users_by_ids([i.clerk_user_id for i in page])  # the users now
                for item in page:
                    if stop.is_set():
                        break
                    rec = journal.get_row(item.row)
                    user = current.get(item.clerk_user_id)
                    if rec is None or rec.status != "failed":
                        settle(item, "refused", message="the row was settled meanwhile: nothing linked")
                        continue
                    if user is None:
                        settle(item, "refused", message=f"Clerk user {item.clerk_user_id} is gone: retry the row")
                        continue
                    if user.external_id == item.external_id:
                        settle(item, "already", user.id)
                        continue
                    if user.external_id:
                        settle(item, "refused", message=f"Clerk user {user.id} has the external_id "
                                                        f"{user.external_id!r} now: not linked")
                        continue
                    try:
                        patched = await client.patch_user(user.id, {"external_id": item.external_id})
                    except UnknownOutcome:
                        try:  # never trusted blindly: read the user back
                            patched = await client.get_user(user.id)
                        except NotFound:
                            patched = None
                    except IdentifierExists as exc:
                        settle(item, "failed", message=f"Clerk refused: {first_line(exc)} (another user holds "
                                                       f"{item.external_id!r})")
                        continue
                    except NotFound:
                        settle(item, "refused", message=f"Clerk user {user.id} is gone: retry the row")
                        continue
                    except AuthenticationError:
                        raise
                    except ClerkError as exc:
                        settle(item, "failed", message=f"Clerk refused: {first_line(exc)}")
                        continue
                    if patched is not None and patched.external_id == item.external_id:
                        settle(item, "linked", patched.id)
                    else:
                        settle(item, "failed", message="no answer from Clerk and the user does not hold the id: "
                                                       "run it again")
                    emit()
            result.complete = not stop.is_set()
            if result.linked or result.already:
                journal.add_event("link", f"linked {result.linked} failed row(s) to the Clerk users holding their "
                                          f"email ({result.already} held the id already), {result.refused} refused, "
                                          f"{result.failed} failed; {time.time() - started:.1f} s")
    finally:
        result.requests = budget.requests - base
        if own:
            await client.aclose()
    if not result.complete:
        result.message = "stopped: run it again to link the rest"
    elif result.refused or result.failed:
        result.message = (f"{result.refused + result.failed} row(s) not linked: see the list (another external_id, "
                          "nobody holding the email, or Clerk's refusal)")
    emit("done" if result.complete else "stopped", result.message or "")
    return result


async def link_row(journal: RunJournal, settings: Any, row_no: int, **kw: Any) -> LinkResult:
    """One row, for the console's Failures fix modal (after it showed plan_links(row_nos=[row]))."""
    plan = await plan_links(journal, settings, row_nos=[row_no], client=kw.get("client"))
    return await link_rows(journal, settings, plan, **kw)


# ----------------------------------------------------------------------------- the job
@dataclass
class LinkOptions:
    codes: list[str] | None = None
    row_nos: list[int] | None = None
    rate: float | None = None
    timeout: float = 30.0


@register_job
class LinkJob(BaseJob):
    """plan_links + link_rows as a job (`retry --link-existing`, a worker, the console). The
    faces show the plan first (plan_links) and ask; the job plans again and links."""

    kind = "link"
    Options = LinkOptions
    snapshot_type = LinkProgress
    snapshot_tag = "link_progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._stop_event = threading.Event()

    def _stop_target(self) -> None:
        self._stop_event.set()

    async def _run(self) -> JobResult:
        o = self.options
        async with self.opened() as journal:
            own = "client" not in self.engine  # tests hand one in (engine=)
            client = self.engine["client"] if not own else _client(journal, self.settings, o.rate, o.timeout)
            try:
                self._publish(LinkProgress(state="reading"))
                plan = await plan_links(journal, self.settings, codes=o.codes, row_nos=o.row_nos, client=client)
                result = await link_rows(journal, self.settings, plan, client=client, on_progress=self._publish,
                                         stop=self._stop_event)
            finally:
                if own:
                    await client.aclose()
        return JobResult(result.exit_code, result.message, None if result.complete else "stopped",
                         {"run": str(self.run_dir), "plan": plan.as_json(), **result.as_json()}, self.kind)

    @classmethod
    async def preflight(cls, run_dir: Any, settings: Any, options: Any) -> None:
        """Before a worker starts: blockers.run_blockers for a link (the key, the run's instance,
        another session, the load)."""
        from console.migration.blockers import run_blockers
        from console.migration.run import open_run

        journal = open_run(run_dir, readonly=True)
        try:
            pre = await run_blockers(journal, settings, kind="link", confirmed_production=True,
                                     check_settings=False, check_room=False)
        finally:
            journal.close()
        pre.raise_first()


__all__ = ["LINK_ACTIONS", "LinkItem", "LinkJob", "LinkOptions", "LinkPlan", "LinkProgress", "LinkResult",
           "link_candidates", "link_row", "link_rows", "plan_links"]
