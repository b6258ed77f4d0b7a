"""Peak RSS of a benchmarked process and its children, sampled from outside it.

The sampler runs in the bench's own process, never in the one measured: a sampling thread
inside syncer's process holds its GIL for a millisecond or two at a time (psutil walks /proc for
the children), and delayed syncer's sends by up to 2.5 ms now and then, enough for a token
bucket without burst to answer 429 to requests that left evenly spaced (measured in
bench/limits.py: 2 runs in 5 drew a 429 with the sampler inside, 0 in 6 without).

    with PeakRss(proc.pid) as rss:
        await proc.communicate()
    rss.peak_mb
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import psutil

#: seconds between two samples
EVERY = 0.05


class PeakRss:
    """The largest sum of RSS seen over `pid` and its children (recursively) while open."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._pid = pid
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        try:
            process = psutil.Process(self._pid)
        except psutil.Error:
            return
        while True:
            total = 0
            with contextlib.suppress(psutil.Error):
                total = process.memory_info().rss
                for child in process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
            self.peak = max(self.peak, total)
            if self._done.wait(EVERY):
                return
