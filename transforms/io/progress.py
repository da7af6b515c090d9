"""How far a local run has got, for the launcher's progress bar.

Beam's DirectRunner returns its counters only once the run is over. So, on a local run, each
DoFn instance keeps its own count and writes it, at most twice a second and at the end of each
bundle, to a small file of its own in a local directory that the launcher polls (in-process and
worker processes alike: they share the machine). A job without that directory (Dataflow, a run
that is not on a terminal) writes nothing. Counts are for display: a retried bundle may count
twice, the log is what counts.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

MATCHED = "matched"  # images found by the listing
DONE = "done"  # images whose copies were all made (or failed)
_INTERVAL = 0.5  # seconds between writes of one counter


class Counter:
    """One DoFn instance's count of one kind, written to `directory` now and then."""

    def __init__(self, directory: str, kind: str) -> None:
        self._path = os.path.join(directory, f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._count = 0
        self._written_at = 0.0

    def add(self, count: int = 1) -> None:
        self._count += count
        if time.monotonic() - self._written_at >= _INTERVAL:
            self.flush()

    def flush(self) -> None:
        temporary = self._path + ".tmp"
        with contextlib.suppress(OSError):  # a display aid never fails a run
            with open(temporary, "w") as f:
                f.write(str(self._count))
            os.replace(temporary, self._path)
        self._written_at = time.monotonic()


def counter(directory: str, kind: str) -> Counter | None:
    """A counter when the job reports progress (`directory` set), else None."""
    return Counter(directory, kind) if directory else None


def totals(directory: str) -> dict[str, int]:
    """The sum of every counter of each kind written so far."""
    sums = {MATCHED: 0, DONE: 0}
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            kind = name.split("-", 1)[0]
            if kind in sums and not name.endswith(".tmp"):
                with (
                    contextlib.suppress(OSError, ValueError),
                    open(os.path.join(directory, name)) as f,
                ):
                    sums[kind] += int(f.read() or 0)
    return sums
