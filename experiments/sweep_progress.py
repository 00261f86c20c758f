"""The progress line of a sweep: done / failed / remaining, elapsed time and ETA.

File-based, so it works with any launcher (joblib, submitit, Ray): it watches each run's main
``runs`` file in the sweep directory.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TextIO

from experiments import sweep_store as store
from experiments.sweep_plan import Job


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress(threading.Thread):
    """Watches the sweep directory and prints done / failed / remaining, elapsed and ETA.

    File-based, so it works with any launcher: a run is finished when its main ``runs``
    file appears or changes.
    """

    def __init__(
        self,
        name: str,
        sweep_dir: Path,
        todo: list[Job],
        done_before: int,
        total: int,
        stream: TextIO,
        interval: float = 0.5,
    ):
        super().__init__(daemon=True)
        self.label = name
        self.paths = {job.run_id: job.runs_path(sweep_dir) for job in todo}
        self.before = {rid: _mtime(p) for rid, p in self.paths.items()}
        self.done_before = done_before
        self.total = total
        self.stream = stream
        self.interval = interval
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.finished: dict[str, str] = {}
        self.t0 = time.perf_counter()
        self._halt = threading.Event()
        self._last = ""

    def poll(self) -> None:
        """Pick up the runs that finished since the last poll."""
        for rid, path in self.paths.items():
            if rid in self.finished:
                continue
            m = _mtime(path)
            if m is not None and m != self.before[rid]:
                status = store.run_status(path)
                if status:
                    self.finished[rid] = status

    def line(self) -> str:
        """The progress line."""
        ok = self.done_before + sum(1 for s in self.finished.values() if s == "ok")
        failed = sum(1 for s in self.finished.values() if s != "ok")
        remaining = self.total - ok - failed
        elapsed = time.perf_counter() - self.t0
        n = len(self.finished)
        eta = _clock(elapsed / n * remaining) if n and remaining else ("0:00" if n else "?")
        return (
            f"[{self.label}] {ok}/{self.total} done · {failed} failed · {remaining} remaining"
            f" · elapsed {_clock(elapsed)} · ETA {eta}"
        )

    def show(self, final: bool = False) -> None:
        """Print the line (in place on a terminal; on change otherwise)."""
        text = self.line()
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self._last)) + ("\n" if final else ""))
        elif text.split(" · elapsed")[0] != self._last.split(" · elapsed")[0]:
            self.stream.write(text + "\n")  # not a terminal: a line per change only
        self.stream.flush()
        self._last = text

    def run(self) -> None:  # the thread
        while not self._halt.wait(self.interval):
            self.poll()
            self.show()

    def stop(self) -> None:
        """Stop watching and print the final line."""
        self._halt.set()
        if self.is_alive():
            self.join()
        self.poll()
        self.show(final=True)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
