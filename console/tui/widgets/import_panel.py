"""The live panel of an import or retry: one `Progress` snapshot rendered.

`ImportPanel.show(progress, history)` draws a snapshot; it keeps no state of
its own, so a hand-built `Progress` gives the same screen every time (the
snapshot tests do that). The figures are the engine's: nothing is computed
here but percentages and words.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from console.migration.progress import Progress
from console.tui.runview import duration

STATE_WORDS = {
    "idle": "Waiting",
    "starting": "Starting",
    "reconciling": "Looking up rows left in flight",
    "running": "Sending",
    "paused": "Paused",
    "stopping": "Stopping: finishing the requests in flight",
    "done": "Done",
    "stopped": "Stopped",
}


class RateSparkline(Widget):
    """Created per second, one bar per sample, newest on the right, scaled from
    zero to the pace (so a steady import is a steady line, not noise)."""

    DEFAULT_CSS = """
    RateSparkline { height: 1; width: 1fr; color: $primary; }
    """
    BARS = " ▁▂▃▄▅▆▇█"

    data: reactive[tuple[float, ...]] = reactive(tuple, layout=False)
    ceiling: reactive[float] = reactive(1.0, layout=False)

    def render(self) -> RenderResult:
        width = max(1, self.size.width)
        samples = self.data[-width:]
        top = max([self.ceiling, *samples]) or 1.0
        bars = "".join(self.BARS[min(8, max(0, round(8 * v / top)))] for v in samples)
        return Text(bars.rjust(width, " "), no_wrap=True)


class ImportPanel(Vertical):
    """Progress bar, counts, rate with its sparkline, ETA, in flight, latency,
    429s and Retry-After pauses, the last errors. `compact`: the first three lines."""

    DEFAULT_CSS = """
    ImportPanel { height: auto; }
    ImportPanel #ip-head { height: 1; }
    ImportPanel #ip-bar { width: 1fr; height: 1; }
    ImportPanel #ip-bar Bar { width: 1fr; }
    ImportPanel #ip-counts { height: 1; }
    ImportPanel #ip-rate-row { height: 1; }
    ImportPanel #ip-rate { width: 30; }
    ImportPanel #ip-net { height: 2; color: $text-muted; }
    ImportPanel #ip-wait { height: auto; }
    ImportPanel #ip-errors-title { height: 1; margin-top: 1; text-style: bold; color: $text-primary; }
    ImportPanel #ip-errors { height: auto; max-height: 8; color: $text-error; text-wrap: nowrap; text-overflow: ellipsis; }
    ImportPanel.-narrow #ip-head, ImportPanel.-narrow #ip-counts { height: 2; }
    ImportPanel.-compact #ip-rate-row, ImportPanel.-compact #ip-net, ImportPanel.-compact #ip-errors-title,
    ImportPanel.-compact #ip-errors { display: none; }
    """

    def __init__(self, *, compact: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="-compact" if compact else "")

    def compose(self) -> ComposeResult:
        yield Static("", id="ip-head")
        yield ProgressBar(total=1, show_eta=False, id="ip-bar")
        yield Static("", id="ip-counts")
        with Horizontal(id="ip-rate-row"):
            yield Static("", id="ip-rate")
            yield RateSparkline(id="ip-spark")
        yield Static("", id="ip-net")
        yield Static("", id="ip-wait", classes="band band-warning")
        yield Static("Last errors", id="ip-errors-title")
        yield Static("", id="ip-errors")

    def on_mount(self) -> None:
        self._last: dict[str, object] = {}

    def on_resize(self) -> None:
        # narrow terminals (80 columns) wrap the two longest lines onto two rows
        narrow = self.size.width < 64
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            shown = getattr(self, "_shown", None)
            if shown is not None:  # the counts line breaks differently: draw it again
                self.show(*shown[:2], kind=shown[2])

    def _put(self, selector: str, key: object, make, *, layout: bool = False) -> None:
        """Update one line only when its figures changed; fixed-size lines skip the layout."""
        last = getattr(self, "_last", None)
        if last is None:
            last = self._last = {}
        if last.get(selector) == key:
            return
        last[selector] = key
        self.query_one(selector, Static).update(make(), layout=layout)

    def show(self, p: Progress, history: Sequence[float] = (), *, kind: str = "import") -> None:
        self._shown = (p, history, kind)
        what = "Retry" if kind == "retry" else "Import"
        state = STATE_WORDS.get(p.state, p.state)
        eta = p.eta_s if p.eta_s is not None and p.state in ("running", "reconciling") and p.pending + p.creating else None

        def head() -> Content:
            # a retry sends a few rows, but its snapshot counts the whole run
            rows = f" · run {p.done:,} of {p.total:,} settled" if kind == "retry" else f" · {p.done:,} of {p.total:,} rows"
            line = Content.assemble((f"{what}: {state}", "bold"), rows, f" · {duration(p.elapsed_s)}")
            if eta is not None:
                line = line.append(Content.assemble(" · ETA ", (duration(eta), "bold")))
            return line

        self._put("#ip-head", (what, state, p.done, p.total, duration(p.elapsed_s), duration(eta) if eta else None), head)
        bar = self.query_one("#ip-bar", ProgressBar)
        if (bar.total, bar.progress) != (max(1, p.total), p.done):
            bar.update(total=max(1, p.total), progress=p.done)

        narrow = self.has_class("-narrow")  # two rows: break between the figures, not inside one
        self._put(
            "#ip-counts",
            (p.created, p.existed, p.failed, p.pending + p.creating, narrow),
            lambda: Content.assemble(
                ("✓ ", "$text-success"),
                f"created {p.created:,}  ",
                ("= ", "$text-muted"),
                f"existed {p.existed:,}" + ("\n" if narrow else "  "),
                ("✗ ", "$text-error" if p.failed else "$text-muted"),
                (f"failed {p.failed:,}", "$text-error bold" if p.failed else ""),
                ("  … ", "$text-muted"),
                f"pending {p.pending + p.creating:,}",
            ),
        )
        now, overall = f"{p.rate_now:,.1f}", f"{p.rate_overall:,.1f}"
        self._put(
            "#ip-rate",
            (now, overall),
            lambda: Content.assemble((f"{now}/s", "bold"), " now · ", f"{overall}/s", " overall"),
        )
        spark = self.query_one("#ip-spark", RateSparkline)
        ceiling = max(1.0, p.pace)
        data = tuple(history)
        if spark.data != data:
            spark.data = data
        if spark.ceiling != ceiling:
            spark.ceiling = ceiling

        latency = (
            f"latency p50 {p.latency_p50_ms:,.0f} ms, p95 {p.latency_p95_ms or 0:,.0f} ms"
            if p.latency_p50_ms is not None
            else "latency —"
        )
        net = f"in flight {p.in_flight} of {p.concurrency} · {latency}\npace {p.pace:,.1f}/s · 429s {p.rate_limited:,}"
        if p.retries:
            net += f" · resends {p.retries:,}"
        if p.reconciling:
            net += f" · lookups {p.reconciling:,}"
        self._put("#ip-net", net, lambda: Content(net))

        waiting = p.paused_for_s > 0
        wait = self.query_one("#ip-wait", Static)
        if wait.display != waiting:
            wait.display = waiting
        if waiting:
            self._put(
                "#ip-wait",
                f"{p.paused_for_s:.1f}",
                lambda: Content(
                    f"Clerk answered 429: every request waits {p.paused_for_s:.1f} s more (its Retry-After), "
                    "then the pace resumes lower."
                ),
                layout=True,
            )

        shown = bool(p.last_errors) and not self.has_class("-compact")
        title = self.query_one("#ip-errors-title")
        if title.display != shown:
            title.display = shown
            self.query_one("#ip-errors").display = shown
        if p.last_errors:

            def errors() -> Text:
                text = Text(no_wrap=True, overflow="ellipsis")
                for n, line in enumerate(p.last_errors):
                    if n:
                        text.append("\n")
                    text.append(line)  # engine text: Text, never markup
                return text

            self._put("#ip-errors", p.last_errors, errors, layout=True)
