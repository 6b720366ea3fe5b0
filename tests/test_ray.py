"""The Ray Data pipeline on a local cluster gives exactly the single-machine results."""

from __future__ import annotations

import shutil

import pytest
import soundfile as sf

from genrelab import synth
from genrelab.batch import EngineSpec, run_batch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.mark.slow
def test_ray_pipeline_equals_the_local_run(tiny_bundle, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    files = []
    for i, style in enumerate(("classical", "rock", "ambient")):
        files.append(music / f"{i}-{style}.wav")
        sf.write(files[-1], synth.song(3.0 + i, style=style, seed=80 + i), 22050)
    files.insert(1, music / "broken.wav")
    files[1].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    twin = tmp_path / "twin"
    shutil.copytree(tiny_bundle, twin)
    # Two members exercise the per-member rows being joined back into one result.
    spec = EngineSpec((str(tiny_bundle), str(twin)))

    local = run_batch(spec, files, output=tmp_path / "local.csv")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        distributed = run_batch(spec, files, output=tmp_path / "ray.csv", use_ray=True)
    finally:
        ray.shutdown()

    assert distributed == local
    assert local[1]["error"] and all(r["error"] is None for i, r in enumerate(local) if i != 1)
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
