"""Independent pieces of one classification (windows, the two halves of a front end) in threads.

NumPy's FFTs, the numba kernels (compiled ``nogil``) and onnxruntime release the GIL, so
threads keep every core busy on one file without the start-up, pickling and memory of
worker processes. Each piece computes exactly what it would alone, so results do not depend
on the thread count. ``GENRELAB_THREADS`` sets the pool's size (default: the usable CPUs;
batch worker processes share the CPUs between them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from genrelab.errors import GenrelabError

ENV = "GENRELAB_THREADS"

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def thread_count() -> int:
    """Threads to use: ``$GENRELAB_THREADS`` if set (at least 1), else the usable CPUs."""
    value = os.environ.get(ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise GenrelabError(
                f"{ENV} must be a whole number of threads (1 or more), got {value!r}"
            )
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _executor() -> ThreadPoolExecutor | None:
    global _pool, _pool_size
    size = thread_count()
    if size == 1:
        return None
    if _pool is None or _pool_size != size:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="genrelab")
        _pool_size = size
    return _pool


def submit(fn: Callable[..., Any], *args: Any) -> Future:
    """Start ``fn(*args)`` in the pool (or run it now when there is one thread)."""
    pool = _executor()
    if pool is not None:
        return pool.submit(fn, *args)
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as err:
        future.set_exception(err)
    return future


def starmap(fn: Callable[..., Any], items: Iterable[tuple[Any, ...]]) -> list[Future]:
    """:func:`submit` for each argument tuple; collect with ``[f.result() for f in ...]``."""
    return [submit(fn, *args) for args in items]
