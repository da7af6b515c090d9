"""Tuning of a worker process before its first image: pure process settings (OpenCV threads,
glibc's allocator), no I/O."""

from __future__ import annotations

import ctypes

import cv2

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_image_buffers() -> bool:
    """Keep freed image-sized buffers in the process for the next image (glibc only).

    By default glibc hands every freed buffer above its adaptive mmap threshold back to the
    kernel, so the next image's buffers of the same size are page-faulted in afresh: about
    3 ms per 1080p intermediate, 40% of the pyramid blur's time (benchmarks/throughput.py
    measures the effect). Buffers up to 32 MB (a 4K RGB image) now come from the heap, and up
    to 128 MB of freed heap is kept; larger buffers are still mapped and unmapped, so memory
    stays bounded by the largest images in flight. Returns whether the setting took effect.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 128 << 20)
    )


def tune_worker_process() -> None:
    """Once per worker process, before its first image."""
    # Parallelism comes from Beam's workers (one process per core on Dataflow); OpenCV's own
    # thread pool on top of that would oversubscribe the cores.
    cv2.setNumThreads(1)
    reuse_freed_image_buffers()
