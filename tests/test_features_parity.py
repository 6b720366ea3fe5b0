"""The registered gtzan57 set reproduces the Kaggle table on the real dev clips.

Every clip takes about 2 s; all but one clip per genre are marked slow, so ``-m "not slow"``
still checks every genre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrelab.features import FEATURE_SETS, GTZAN_FEATURE_NAMES
from genrelab.labels import GTZAN

pytestmark = pytest.mark.shared

GENRES = GTZAN
CLIPS = [
    pytest.param(
        f"{genre}.{i:05d}", marks=() if i == 0 else pytest.mark.slow, id=f"{genre}.{i:05d}"
    )
    for genre in GENRES
    for i in range(3)
]

#: Relative tolerance per feature (default 1e-3); HPSS variances drift a little more.
RTOL = {"harmony_var": 2e-3, "perceptr_var": 2e-3}
#: Near-zero means are compared absolutely: their relative error is meaningless.
ATOL = {"harmony_mean": 1e-5, "perceptr_mean": 1e-5}


@pytest.fixture(scope="module")
def table(feature_table: Path) -> pd.DataFrame:
    return pd.read_csv(feature_table).set_index("filename")


@pytest.mark.parametrize("clip", CLIPS)
def test_gtzan57_matches_the_kaggle_table(clip: str, gtzan_dev: Path, table: pd.DataFrame) -> None:
    path = gtzan_dev / clip.split(".")[0] / f"{clip}.wav"
    y, sr = sf.read(path, dtype="float32")
    ours = FEATURE_SETS["gtzan57"].fn(y, sr)
    theirs = table.loc[path.name, list(GTZAN_FEATURE_NAMES)].to_numpy(np.float64)

    error = np.abs(ours - theirs)
    allowed = np.array(
        [
            ATOL.get(name, RTOL.get(name, 1e-3) * abs(ref))
            for name, ref in zip(GTZAN_FEATURE_NAMES, theirs, strict=True)
        ]
    )
    ratio = error / allowed
    worst = np.argsort(ratio)[::-1][:5]
    report = "; ".join(
        f"{GTZAN_FEATURE_NAMES[i]}: ours {ours[i]:.7g} vs table {theirs[i]:.7g} ({ratio[i]:.2f}x tolerance)"
        for i in worst
    )
    assert ratio.max() <= 1.0, f"{clip} differs from the table. Worst: {report}"
