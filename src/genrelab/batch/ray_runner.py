"""The batch job as a Ray Data pipeline: read -> decode -> features -> model -> combine.

Decoding runs as Ray tasks; features and the model run in actor pools that load the bundles
once per actor; the driver combines each file's member rows with the same
:meth:`Engine.combine` as the local path, so results are identical. Each row is one
``(file, ensemble member)``; failures travel down the pipeline as an ``error`` string.
On a remote cluster the files must be readable at the same paths on every node.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.batch.engine import Engine, EngineSpec, Windowing, error_result
from genrelab.errors import GenrelabError
from genrelab.models import trust

Row = dict[str, Any]

#: CPUs reserved per decode task and per model actor; feature actors take a whole CPU each.
LIGHT_CPUS = 0.5


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise GenrelabError(
            "--ray needs Ray Data: pip install 'genrelab[ray]' (or pip install 'ray[data]')"
        ) from err
    return ray


def _failed(row: Row, err: BaseException) -> Row:
    return {
        "index": row["index"],
        "member": row["member"],
        "path": row["path"],
        "error": error_result(row["path"], err)["error"],
    }


def decode_row(row: Row, windowing: Sequence[Windowing], aggregate: str) -> Row:
    """Decode stage: the member's windows of one file, stacked."""
    try:
        spans, windows = windowing[row["member"]].decode(row["path"], aggregate)
    except Exception as err:
        return _failed(row, err)
    return {
        **row,
        "starts": np.array([s for s, _ in spans]),
        "ends": np.array([e for _, e in spans]),
        "windows": windows,
        "error": "",
    }


class FeatureStage:
    """Features stage (actor): the member's front end over the file's windows."""

    def __init__(self, spec: EngineSpec, permission: trust.Trust):
        trust.allow(permission)  # the driver's --trust-* flags
        self.engine = spec.build()

    def __call__(self, row: Row) -> Row:
        if row["error"]:
            return row
        try:
            windows = list(row["windows"])
            inputs = self.engine.features(row["member"], windows, len(windows))
        except Exception as err:
            return _failed(row, err)
        rest = {k: v for k, v in row.items() if k != "windows"}
        return {**rest, "inputs": inputs}


class ModelStage:
    """Model stage (actor): window probabilities in the engine's label order."""

    def __init__(self, spec: EngineSpec, permission: trust.Trust):
        trust.allow(permission)  # the driver's --trust-* flags
        self.engine = spec.build()

    def __call__(self, row: Row) -> Row:
        if row["error"]:
            return row
        try:
            proba = self.engine.predict(row["member"], row["inputs"])
        except Exception as err:
            return _failed(row, err)
        rest = {k: v for k, v in row.items() if k != "inputs"}
        return {**rest, "proba": proba}


def iter_ray(
    spec: EngineSpec, files: Sequence[str | Path], address: str | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index, result)`` as files finish; joins a running Ray or starts/connects one."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address or None,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    # Ray Data logs its plan and progress; ours is the CLI's progress bar.
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)
    try:
        yield from _run_pipeline(ray, spec, files)
    finally:
        data_log.setLevel(level)
        if started:
            ray.shutdown()


def _run_pipeline(ray, spec: EngineSpec, files: Sequence[str | Path]):
    engine = spec.build()
    members = len(engine.members)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    items = [
        {"index": i, "member": m, "path": str(p)}
        for i, p in enumerate(files)
        for m in range(members)
    ]
    if not items:
        return
    ds = ray.data.from_items(items)
    ds = ds.map(
        decode_row,
        fn_kwargs={"windowing": engine.windowing, "aggregate": spec.aggregate},
        num_cpus=LIGHT_CPUS,
    )
    pool = ray.data.ActorPoolStrategy
    ds = ds.map(
        FeatureStage,
        fn_constructor_args=(spec, trust.current()),
        compute=pool(min_size=1, max_size=max(1, cpus - 1)),
        num_cpus=1,
    )
    ds = ds.map(
        ModelStage,
        fn_constructor_args=(spec, trust.current()),
        compute=pool(size=1),
        num_cpus=LIGHT_CPUS,
    )
    parts: dict[int, dict[int, Row]] = {}
    for row in ds.iter_rows():
        index = int(row["index"])
        parts.setdefault(index, {})[int(row["member"])] = row
        if len(parts[index]) == members:
            yield index, _combine(engine, parts.pop(index))


def _combine(engine: Engine, rows: dict[int, Row]) -> dict[str, Any]:
    ordered = [rows[m] for m in sorted(rows)]
    path = ordered[0]["path"]
    for row in ordered:
        if row["error"]:
            return {"path": path, "error": row["error"]}
    try:
        parts = [
            (list(zip(map(float, r["starts"]), map(float, r["ends"]), strict=True)), r["proba"])
            for r in ordered
        ]
        return engine.combine(path, parts)
    except Exception as err:
        return error_result(path, err)
