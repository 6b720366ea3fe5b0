"""Run an :class:`EngineSpec` over many files: in this process, in worker processes, or on Ray.

In one process, the windows of each file already run side by side in threads
(:mod:`genrelab.parallel`); ``workers`` adds processes that each take whole files (and load
the bundles once), sharing the threads between them. Results arrive in completion order, are
journalled one by one, and come back in input order at the end.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from genrelab import parallel
from genrelab.batch.engine import Engine, EngineSpec
from genrelab.batch.writers import Journal, check_output, journal_path, path_key, write_table
from genrelab.errors import GenrelabError

Result = dict[str, Any]

#: Tasks queued per worker: enough to keep workers busy, few enough to bound memory.
QUEUE_PER_WORKER = 2

_worker_engine: Engine | None = None


def iter_results(
    spec: EngineSpec,
    files: Sequence[str | Path],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    engine: Engine | None = None,
) -> Iterator[tuple[int, Result]]:
    """Yield ``(index into files, result)`` in completion order.

    ``engine`` reuses bundles already loaded in this process (single-process runs only).
    """
    if use_ray:
        from genrelab.batch.ray_runner import iter_ray

        yield from iter_ray(spec, files, address=ray_address)
    elif workers <= 1 or len(files) <= 1:
        engine = engine or spec.build()
        for i, path in enumerate(files):
            yield i, engine.classify(path)
    else:
        yield from _iter_pool(spec, files, workers)


def _init_worker(spec: EngineSpec, threads: int) -> None:
    """Load the bundles once per process; the processes share the cores between them."""
    global _worker_engine
    os.environ.setdefault(parallel.ENV, str(threads))
    _worker_engine = spec.build()


def _classify_in_worker(path: str) -> Result:
    assert _worker_engine is not None, "worker not initialised"
    return _worker_engine.classify(path)


def _iter_pool(
    spec: EngineSpec, files: Sequence[str | Path], workers: int
) -> Iterator[tuple[int, Result]]:
    from genrelab.features._hpss import compile_kernels

    compile_kernels()  # once here, not in every fresh worker at the same moment
    workers = min(workers, len(files))
    # spawn: forking a process that already runs OpenMP/BLAS threads can deadlock.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, max(1, parallel.thread_count() // workers)),
    )
    pending: dict[Future[Result], int] = {}
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
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Classify ``files`` and return their results in input order.

    With ``output``, each result is journalled as it arrives and the table is written
    atomically at the end; ``resume`` continues an interrupted run of the same job without
    redoing finished files (``on_result`` sees those first). ``engine``, when given, is
    reused in this process instead of loading the bundles again.
    """
    if resume and output is None:
        raise GenrelabError("--resume needs --output: the journal lives beside the output file")
    journal = None
    results: list[Result | None] = [None] * len(files)
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
