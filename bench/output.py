"""Where a benchmark's figures are written: one file per run, a day's later runs numbered."""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def results_path(stem: str, directory: Path = RESULTS) -> Path:
    """``<stem>.json``, or ``<stem>-2.json`` and on when a run of the day already wrote it."""
    path, n = directory / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.json"
    return path
