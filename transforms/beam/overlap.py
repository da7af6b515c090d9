"""Storage waits overlapped with the work of a DoFn: reads run ahead on reader threads, writes
run behind on writer threads, and outputs come out stamped with the element they belong to.

A DoFn submits each element's read, takes results back in order once more than `read_ahead`
are pending (or all at the end of the bundle), and submits writes whose payloads it takes back,
with the write's outcome, once more than `write_behind` writes (or `write_bytes` of them) are
in flight. OpenCV and the storage client release the GIL, so the threads overlap the blur.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow, GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

Where = tuple[Any, Any]  # an element's timestamp and window


@dataclass
class _Write:
    future: Future[None]
    payload: Any
    where: Where
    size: int


class Overlap:
    """The read-ahead and write-behind queues of one DoFn instance (see the module)."""

    def __init__(
        self, read_ahead: int, write_threads: int, write_behind: int, write_bytes: int
    ) -> None:
        self._limits = (read_ahead, write_threads, write_behind, write_bytes)
        self._readers: ThreadPoolExecutor | None = None
        self._writers: ThreadPoolExecutor | None = None
        self._reads: deque[tuple[Future[Any], Where]] = deque()
        self._writes: deque[_Write] = deque()
        self._bytes = 0

    def start(self) -> None:
        """In setup(): the thread pools, once per DoFn instance."""
        read_ahead, write_threads, _, _ = self._limits
        self._readers = ThreadPoolExecutor(max(read_ahead, 1), thread_name_prefix="blur-read")
        self._writers = ThreadPoolExecutor(write_threads, thread_name_prefix="blur-write")

    def reset(self) -> None:
        """In start_bundle(): a failed bundle's leftovers are dropped (its retry redoes them)."""
        self._reads, self._writes, self._bytes = deque(), deque(), 0

    def stop(self) -> None:
        """In teardown()."""
        for pool in (self._readers, self._writers):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def read(self, fetch: Callable[..., Any], *args: Any, where: Where) -> None:
        assert self._readers is not None, "start() first"
        self._reads.append((self._readers.submit(fetch, *args), where))

    def fetched(self, everything: bool = False) -> Iterator[tuple[Any, Where]]:
        """Results of reads, oldest first, while more than read_ahead are pending (all of them
        with `everything`); a read that raised raises here, in the DoFn's thread."""
        while self._reads and (everything or len(self._reads) > self._limits[0]):
            future, where = self._reads.popleft()
            yield future.result(), where

    def write(self, store: Callable[..., None], *args: Any, payload: Any, where: Where,
              size: int) -> None:  # fmt: skip
        assert self._writers is not None, "start() first"
        self._writes.append(_Write(self._writers.submit(store, *args), payload, where, size))
        self._bytes += size

    def settled(
        self, everything: bool = False
    ) -> Iterator[tuple[Any, BaseException | None, Where]]:
        """(payload, the exception its write raised or None, where) of the oldest writes while
        too many are in flight (all of them with `everything`)."""
        _, _, behind, most_bytes = self._limits
        while self._writes and (
            everything or len(self._writes) > behind or self._bytes > most_bytes
        ):
            write = self._writes.popleft()
            self._bytes -= write.size
            yield write.payload, write.future.exception(), write.where


def where_of(timestamp: Any, window: Any) -> Where:
    """An element's timestamp and window, for outputs yielded after later elements arrived
    (the global window when the DoFn is called directly, as tests do)."""
    if not isinstance(timestamp, Timestamp):
        timestamp = MIN_TIMESTAMP
    if not isinstance(window, BoundedWindow):
        window = GlobalWindow()
    return timestamp, window


def windowed(outputs: Iterable[Any], where: Where) -> Iterator[Any]:
    """Outputs stamped with the element they belong to: finish_bundle may only yield
    WindowedValues, and a later element's process must not lend them its own."""
    timestamp, window = where
    for output in outputs:
        if isinstance(output, TaggedOutput):
            yield TaggedOutput(output.tag, WindowedValue(output.value, timestamp, (window,)))
        else:
            yield WindowedValue(output, timestamp, (window,))
