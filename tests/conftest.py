"""Shared fixtures: the real data beside the repo (skipped when absent) and synthetic audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Compile the numba kernels once, in this process, before any xdist worker starts.

    Several fresh processes compiling the same cached kernels at once (librosa's and ours,
    ``cache=True``) can leave a corrupt on-disk cache that crashes every later process.
    """
    if hasattr(config, "workerinput"):
        return
    from genrelab.features import fast, reference

    y = synth.song(3.0, style="rock", seed=0)
    fast.gtzan_features(y, 22050)
    reference.gtzan_features(y, 22050)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that use it skip cleanly where it is absent."""
    if not (SHARED / "gtzan-dev").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def gtzan_dev(shared_data: Path) -> Path:
    return shared_data / "gtzan-dev"


@pytest.fixture(scope="session")
def feature_table(shared_data: Path) -> Path:
    return shared_data / "gtzan-features" / "features_30_sec.csv"


@pytest.fixture
def write_wav(tmp_path: Path):
    """Write a float signal to ``tmp_path/name`` as 16-bit WAV and return its path."""

    def _write(name: str, y: np.ndarray, sr: int = 22050, subtype: str = "PCM_16") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, sr, subtype=subtype)
        return path

    return _write


@pytest.fixture(scope="session")
def synth_song() -> np.ndarray:
    """Ten seconds of deterministic synthetic rock at 22,050 Hz."""
    return synth.song(10.0, style="rock", seed=1)


STYLES = ("classical", "rock", "ambient")


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    """A folder-per-genre dataset: 3 styles x 4 synthetic 4 s clips at 22,050 Hz."""
    root = tmp_path_factory.mktemp("synth_dataset")
    for style in STYLES:
        (root / style).mkdir()
        for i in range(4):
            sf.write(
                root / style / f"{style}.{i:02d}.wav", synth.song(4.0, style=style, seed=i), 22050
            )
    return root


@pytest.fixture(scope="session")
def tiny_bundle(synth_dataset: Path, tmp_path_factory) -> Path:
    """A logistic-regression bundle on 2 s windows of ``synth_dataset`` (gtzan57 features)."""
    from genrelab.training import load_feature_data, train

    data = load_feature_data(
        str(synth_dataset), window_s=2.0, hop_s=2.0, cache_dir=str(tmp_path_factory.mktemp("cache"))
    )
    bundle = train(data, "logreg", protocol="kfold-2")
    return bundle.save(tmp_path_factory.mktemp("bundles") / "tiny")
