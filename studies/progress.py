"""What a person watching a study sees: live progress while it runs, and its best trials as a table."""
from __future__ import annotations

import math
import sys
from typing import Any


class ProgressReporter:
    """Live progress (rich) on a terminal; one plain line per change otherwise."""

    def __init__(self, name: str, n: int):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.name, self.n, self.last = name, n, None
        self.live = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=self.console)
            self.task = self.live.add_task(name, total=n, info="")
            self.live.start()

    def __call__(self, counts: dict[str, int], eta: float) -> None:
        info = (f"running {counts['running']} · failed {counts['failed']} · waiting {counts['waiting']}"
                + (f" · retried {counts['retried']}" if counts.get("retried") else "")
                + (f" · ETA {_duration(eta)}" if math.isfinite(eta) and eta > 0 else ""))
        done = counts["complete"] + counts["failed"]
        if self.live is not None:
            self.live.update(self.task, completed=done, info=info)
        elif (done, counts["running"], counts["failed"]) != self.last:
            self.last = (done, counts["running"], counts["failed"])
            print(f"{self.name}: done {counts['complete']}/{self.n} · {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


#: Columns of the best-trials table (the parameters follow, as NAME=VALUE pairs).
BEST_COLUMNS = ("trial", "point", "NMI", "Purity", "nodes", "seconds")


def counts_line(c: dict[str, int]) -> str:
    """The design points' counts as one line."""
    return (f"design points: {c['complete']} complete, {c['failed']} failed, {c['running']} running, "
            f"{c['waiting']} waiting (of {c['n']}); {c['retried']} lost trial(s) retried")


def best_rows(best, varying: list[str]) -> list[list[str]]:
    """The cells of the best-trials table: one list per trial, :data:`BEST_COLUMNS` then the parameters."""
    return [[str(r["number"]), str(r["design_index"]), f"{r['nmi']:.4f}", f"{r['purity']:.4f}", str(r["n_nodes"]),
             f"{r['seconds']:.1f}", "  ".join(f"{p}={_fmt(r[p])}" for p in varying)] for _, r in best.iterrows()]


def plain_lines(title: str, rows: list[list[str]]) -> list[str]:
    """A table as plain text for a log or a pipe: a title, a header, one unwrapped line per row (the
    fixed columns right-aligned to their widest cell, the parameters last, as long as they are)."""
    header = [*BEST_COLUMNS, "parameters"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(BEST_COLUMNS))]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]  # noqa: E731
    return [title, line(header).rstrip(), *(line(r).rstrip() for r in rows)]


def print_summary(table, counts: dict[str, int], top: int = 5, *, terminal: bool | None = None) -> None:
    """Counts per design point and the ``top`` best trials of a study table
    (:func:`studies.export.study_table`) as a table: on a terminal a rich table as wide as the terminal
    (or ``$COLUMNS``); otherwise plain lines that never wrap (:func:`plain_lines`)."""
    from studies import export

    terminal = sys.stdout.isatty() if terminal is None else terminal
    print(counts_line(counts), flush=True)
    best = export.best(table, top)
    if best.empty:
        return
    design = table.attrs["design"]
    varying = [p for p, d in design["space"]["params"].items() if "value" not in d]
    title, rows = f"best {len(best)} trials by NMI", best_rows(best, varying)
    if not terminal:
        print("\n".join(plain_lines(title, rows)), flush=True)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in BEST_COLUMNS:
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("parameters", overflow="fold")
    for r in rows:
        t.add_row(*r)
    Console().print(t)  # width: the terminal's, or $COLUMNS when set (rich reads it)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)



def running_lines(trials) -> list[str]:
    """One line per RUNNING trial: where it runs, for how long, and whether its worker is dead."""
    import datetime

    from optuna.trial import TrialState

    from studies import study as sy

    now, lines = datetime.datetime.now(), []
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        w = t.user_attrs.get("worker") or {}
        alive = sy.process_alive(w) if w else None
        age = f"{(now - t.datetime_start).total_seconds():.0f} s" if t.datetime_start else "?"
        flag = " (worker dead: re-run lhs or start a worker to re-enqueue)" if alive is False else ""
        lines.append(f"  running: trial {t.number} (point {t.user_attrs.get('design_index')}) on "
                     f"{w.get('host', '?')} {t.user_attrs.get('device', '')} pid {w.get('pid', '?')} for {age}{flag}")
    return lines
