"""Run an :class:`EngineSpec` over many files: in this process, in worker processes, or on Ray.

In one process, the windows of each file already run side by side in threads
(:mod:`genrelab.parallel`); ``workers`` adds processes that each take whole files (and load
the bundles once), sharing the threads between them. Results arrive in completion order, are
journalled one by one, and come back in input order at the end.

Workers die with the process that started them, even when it is killed with SIGKILL (which
runs no clean-up): on Linux the kernel sends them SIGKILL too (``PR_SET_PDEATHSIG``), and
everywhere a watchdog thread exits a worker whose parent has gone. Only the thread that
starts the pool may end it: the kernel ties the signal to that thread.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from genrelab import parallel
from genrelab.batch.engine import Engine, EngineSpec
from genrelab.batch.writers import Journal, check_output, journal_path, path_key, write_table
from genrelab.errors import GenrelabError
from genrelab.models import trust

#: One result dict (:meth:`genrelab.pipeline.Result.to_dict`).
Row = dict[str, Any]

#: Tasks queued per worker: enough to keep workers busy, few enough to bound memory.
QUEUE_PER_WORKER = 2
#: prctl option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between a worker's checks that its parent is still alive (the fallback).
WATCHDOG_S = 0.5

_worker_engine: Engine | None = None


def iter_results(
    spec: EngineSpec,
    files: Sequence[str | Path],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    engine: Engine | None = None,
) -> Iterator[tuple[int, Row]]:
    """Yield ``(index into files, result)`` in completion order.

    ``engine`` reuses bundles already loaded in this process; with workers, its front ends
    compile their kernels here before the workers start.
    """
    if use_ray:
        from genrelab.batch.ray_runner import iter_ray

        yield from iter_ray(spec, files, address=ray_address)
    elif workers <= 1 or len(files) <= 1:
        engine = engine or spec.build()
        for i, path in enumerate(files):
            yield i, engine.classify(path)
    else:
        yield from _iter_pool(spec, files, workers, engine)


def _init_worker(spec: EngineSpec, threads: int, parent: int, permission: trust.Trust) -> None:
    """Tie this worker's life to ``parent``, then load the bundles once per process.

    ``permission`` is the parent's (what ``--trust-bundle`` allowed there).
    """
    global _worker_engine
    die_with_parent(parent)
    trust.allow(permission)
    os.environ.setdefault(parallel.ENV, str(threads))
    _worker_engine = spec.build()


def die_with_parent(parent: int) -> None:
    """Exit as soon as process ``parent`` is gone, however it ended (SIGKILL included)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="genrelab-parent-watch", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    """Orphaned processes get a new parent id: then exit at once, with no clean-up to hang on."""
    while os.getppid() == parent:
        time.sleep(WATCHDOG_S)
    os._exit(1)


def _classify_in_worker(path: str) -> Row:
    assert _worker_engine is not None, "worker not initialised"
    return _worker_engine.classify(path)


def _iter_pool(
    spec: EngineSpec, files: Sequence[str | Path], workers: int, engine: Engine | None
) -> Iterator[tuple[int, Row]]:
    _warm_up(engine)
    workers = min(workers, len(files))
    # spawn: forking a process that already runs OpenMP/BLAS threads can deadlock.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, max(1, parallel.thread_count() // workers), os.getpid(), trust.current()),
    )
    pending: dict[Future[Row], int] = {}
    todo = iter(enumerate(files))
    try:
        while True:
            for i, path in todo:
                pending[pool.submit(_classify_in_worker, str(path))] = i
                if len(pending) >= workers * QUEUE_PER_WORKER:
                    break
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    except BrokenProcessPool as err:
        raise GenrelabError(
            "a worker process died (out of memory or a crash in a decoder); "
            "finished tracks are saved: rerun with --resume to continue"
        ) from err
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


def _warm_up(engine: Engine | None) -> None:
    """Compile the numba kernels (ours, librosa's) here, so workers load them from the cache.

    Fresh workers compiling the same ``cache=True`` kernels at once each pay the compile
    time and can corrupt numba's on-disk cache. The front ends' ``prepare()`` runs every
    kernel their features use; without a loaded engine, at least the HPSS kernels.
    """
    from genrelab.features._hpss import compile_kernels

    compile_kernels()
    for member in engine.pipelines if engine is not None else []:
        if callable(prepare := getattr(member.frontend, "prepare", None)):
            prepare()


def run_batch(
    spec: EngineSpec,
    files: Sequence[str | Path],
    *,
    output: str | Path | None = None,
    resume: bool = False,
    workers: int = 1,
    use_ray: bool = False,
    ray_address: str | None = None,
    engine: Engine | None = None,
    on_result: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Classify ``files`` and return their results in input order.

    With ``output``, each result is journalled as it arrives and the table is written
    atomically at the end; ``resume`` continues an interrupted run of the same job without
    redoing finished files (``on_result`` sees those first). ``engine``, when given, is
    reused in this process instead of loading the bundles again.
    """
    if resume and output is None:
        raise GenrelabError("--resume needs --output: the journal lives beside the output file")
    journal = None
    results: list[Row | None] = [None] * len(files)
    if output is not None:
        check_output(output)
        engine = engine or spec.build()
        header = {"models": list(spec.models), "aggregate": spec.aggregate, "labels": engine.labels}
        journal = Journal.open(journal_path(output), header, resume)
        for i, path in enumerate(files):
            results[i] = journal.done.get(path_key(path))
            if results[i] is not None and on_result is not None:
                on_result(results[i])
    todo = [i for i, r in enumerate(results) if r is None]
    try:
        stream = iter_results(
            spec,
            [files[i] for i in todo],
            workers=workers,
            use_ray=use_ray,
            ray_address=ray_address,
            engine=engine,
        )
        for j, result in stream:
            results[todo[j]] = result
            if journal is not None:
                journal.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if journal is not None:
            journal.close()
    final = [r for r in results if r is not None]
    if journal is not None and output is not None and engine is not None:
        write_table(output, final, engine.labels)
        journal.remove()
    return final
