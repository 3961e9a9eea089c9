"""What the CLI shows a person: a progress line per phase while it works, and small tables afterwards.
All of it goes to stderr, so stdout stays free for video, bitstreams or JSON."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
from rich.text import Text
from rich.table import Column, Table

from ..progress import Progress as ProgressEvent

console = Console(stderr=True)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Figures(ProgressColumn):
    """Count, elapsed time, ETA and status as one text, so a narrow terminal shortens the status
    (at its end) and never a number."""

    def render(self, task) -> Text:
        total = "?" if task.total is None else str(int(task.total))
        eta = task.time_remaining if task.total is not None and not task.finished else (0 if task.finished else None)
        text = f"{int(task.completed)}/{total} {task.fields['unit']}  {_clock(task.elapsed)}  ETA {_clock(eta)}"
        status = task.fields["status"]
        return Text(f"{text}  {status}" if status else text, no_wrap=True, overflow="ellipsis")


class PhaseProgress:
    """One line per phase of a run (reading, fitting, measuring, decoding), each with its count
    and, where the total is known, a bar and an ETA; fed by the API's Progress events."""

    LABELS = {"read": "reading", "fit": "fitting", "measure": "measuring", "decode": "decoding"}
    UNITS = {"read": "frames", "fit": "steps", "measure": "frames", "decode": "frames"}

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "PhaseProgress":
        return self

    def _start(self) -> None:
        """The display appears with the first event (an option error prints no empty bar)."""
        if self.enabled and self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]{task.description}", table_column=Column(min_width=9, no_wrap=True)),
                BarColumn(bar_width=16, table_column=Column(min_width=16, no_wrap=True)),
                _Figures(table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                console=console,
                transient=False,
            )
            self.progress.__enter__()

    def update(self, event: ProgressEvent) -> None:
        self._start()
        if not self.progress:
            return
        task = self.tasks.get(event.phase)
        if task is None:
            for other in self.tasks.values():  # an earlier phase is over: stop its clock
                self._stop(other)
            task = self.progress.add_task(self.LABELS.get(event.phase, event.phase), total=event.total,
                                          unit=self.UNITS.get(event.phase, ""), status="")
            self.tasks[event.phase] = task
        self.progress.update(task, completed=event.done, total=event.total, status=event.status)
        if event.total is not None and event.done >= event.total:
            self._stop(task)  # its clock shows the phase's own time

    def _stop(self, task: int) -> None:
        if self.progress is not None and next(t for t in self.progress.tasks if t.id == task).stop_time is None:
            self.progress.stop_task(task)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.progress:
            if exc_type is not None:  # the error's one line is what matters: take the display away
                self.progress.live.transient = True
            self.progress.__exit__(exc_type, exc, tb)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return "-" if value is None else str(value)


def print_table(title: str, report: dict, keys: list[str]) -> None:
    table = Table(title=title, show_header=False)
    for k in keys:
        table.add_row(k, _fmt(report.get(k)))
    console.print(table)


def segment_ranges(segments: list[dict], shown: int = 12) -> str:
    """'3: frames 0-31, 32-59, 60-67': where each segment (group of pictures) starts and ends."""
    spans = [f"{s['first_frame']}-{s['first_frame'] + s['frames'] - 1}" for s in segments[:shown]]
    more = f", ... ({len(segments) - shown} more)" if len(segments) > shown else ""
    return f"{len(segments)}: frames {', '.join(spans)}{more}"


def print_info(report: dict) -> None:
    """`inrcodec info` answers on stdout: the header is what the user asked for."""
    out = Console()
    table = Table(title="header", show_header=False)
    for k in ("version", "method", "width", "height", "frames", "fps", "pix_fmt", "matrix", "full_range",
              "generator", "seed", "levels", "sparsity", "network", "weights", "bytes", "bpp"):
        table.add_row(k, _fmt(report[k]))
        if k == "frames":
            table.add_row("segments", segment_ranges(report["segments"]))
    out.print(table)
    sizes = Table(title="size breakdown")
    sizes.add_column("section")
    sizes.add_column("bytes", justify="right")
    sizes.add_column("share", justify="right")
    for name, n in report["sections"].items():
        sizes.add_row(name, str(n), f"{100.0 * n / max(1, report['bytes']):.1f}%")
    out.print(sizes)
