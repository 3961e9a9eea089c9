"""What the CLI shows a person: a rich progress bar while fitting, and small tables afterwards. All
of it goes to stderr, so stdout stays free for video, bitstreams or JSON."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..fit.trainer import EpochReport

console = Console(stderr=True)


class EpochProgress:
    """Progress over all epochs of all segments: epoch, loss, PSNR and ETA."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.progress.__enter__()
        return self

    def update(self, segment: int, segments: int, r: EpochReport) -> None:
        if not self.progress:
            return
        if self.task is None:
            self.task = self.progress.add_task("fitting", total=r.epochs * segments, status="")
        psnr = f"{r.best_psnr:.2f} dB" if r.best_psnr is not None else "-"
        seg = f"seg {segment + 1}/{segments} " if segments > 1 else ""
        self.progress.update(
            self.task,
            completed=segment * r.epochs + r.epoch,
            status=f"{seg}epoch {r.epoch}/{r.epochs} loss {r.loss:.5f} best PSNR {psnr}",
        )

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.__exit__(*exc)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return "-" if value is None else str(value)


def print_table(title: str, report: dict, keys: list[str]) -> None:
    table = Table(title=title, show_header=False)
    for k in keys:
        table.add_row(k, _fmt(report.get(k)))
    console.print(table)


def print_info(report: dict) -> None:
    """`inrcodec info` answers on stdout: the header is what the user asked for."""
    out = Console()
    table = Table(title="header", show_header=False)
    for k in ("version", "method", "width", "height", "frames", "fps", "pix_fmt", "matrix", "full_range",
              "generator", "seed", "levels", "sparsity", "network", "weights", "bytes", "bpp"):
        table.add_row(k, _fmt(report[k]))
    out.print(table)
    sizes = Table(title="size breakdown")
    sizes.add_column("section")
    sizes.add_column("bytes", justify="right")
    sizes.add_column("share", justify="right")
    for name, n in report["sections"].items():
        sizes.add_row(name, str(n), f"{100.0 * n / max(1, report['bytes']):.1f}%")
    out.print(sizes)
