"""Import, Failures, Verify, Finish: the steps part 2 of the console fills.

Until then each pane says what the step will need and what still blocks it,
read from the same `ConsoleState` the rail uses.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState

HEADLESS = {
    "import": "clerk-migrate import EXPORT --run DIR",
    "failures": "clerk-migrate status --run DIR  ·  clerk-migrate retry --run DIR",
    "verify": "clerk-migrate verify --run DIR",
    "finish": "clerk-migrate export-ids --run DIR --out ids.csv",
}
PURPOSE = {
    "import": "Import: create the users in Clerk, paced to the instance's rate limit, resumable.",
    "failures": "Failures: the rows Clerk refused, grouped by code; fix and retry.",
    "verify": "Verify: read the users back from Clerk and compare them with the export.",
    "finish": "Finish: the id map, the foreign-key SQL, the app-code checklist, undo.",
}


class LaterStepPane(StepPane):
    """A step whose screen is not built yet: what it needs, what blocks it."""

    def compose(self) -> ComposeResult:
        yield Static(PURPOSE[self.step], classes="pane-title")
        yield Static("", id=f"{self.step}-readiness")
        yield Static(
            Content.assemble(
                ("This screen arrives with the next part of the console. The same step, headless: ", "$text-muted"),
                (HEADLESS[self.step], "bold"),
            ),
            classes="note",
        )

    def sync(self, state: ConsoleState) -> None:
        status = state.step_status(self.step)
        lines: list[tuple[str, str] | str] = []
        if self.step == "import":
            blockers = state.import_blockers()
            if blockers:
                lines.append(("Not ready:\n", "bold"))
                for _, reason in blockers:
                    lines.append(("✗ ", "$text-error bold"))
                    lines.append(reason + "\n")
            else:
                report = state.report
                assert report is not None
                lines.append(("✓ ", "$text-success bold"))
                lines.append(
                    f"Ready: {report.importable:,} rows into the {state.instance_kind} instance "
                    f"{state.settings.secret_key.masked if state.settings.secret_key else ''}.\n"
                )
        else:
            lines.append((f"✗ {status.reason}\n", "$text-muted"))
        self.query_one(f"#{self.step}-readiness", Static).update(Content.assemble(*lines))


class ImportPane(LaterStepPane):
    step = "import"


class FailuresPane(LaterStepPane):
    step = "failures"


class VerifyPane(LaterStepPane):
    step = "verify"


class FinishPane(LaterStepPane):
    step = "finish"
