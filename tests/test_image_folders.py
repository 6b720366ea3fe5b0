"""``genrelab train --data images/`` with the image backbones, on generated PNG spectrograms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from genrelab.cli import main  # noqa: E402
from genrelab.neural.vision import image_folder, read_images  # noqa: E402

TINY_RESNET = json.dumps(
    {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "layer_type": "basic"}
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stripes(horizontal: bool, seed: int, size: tuple[int, int] = (48, 32)) -> Image.Image:
    """An RGBA "spectrogram": bright bands along time (tones) or along frequency (drums)."""
    rng = np.random.default_rng(seed)
    width, height = size
    grid = np.add.outer(np.arange(height), np.zeros(width)) if horizontal else None
    if grid is None:
        grid = np.add.outer(np.zeros(height), np.arange(width))
    bands = (np.sin(grid * (0.8 + 0.1 * rng.random())) > 0).astype(float)
    grey = np.clip(200 * bands + 40 * rng.random((height, width)), 0, 255).astype(np.uint8)
    rgba = np.stack([grey, grey // 2, 255 - grey, np.full_like(grey, 255)], axis=-1)
    return Image.fromarray(rgba, "RGBA")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GTZAN's layout and names: ``images_original/<genre>/<genre>000NN.png``, 8 per genre."""
    root = tmp_path_factory.mktemp("gtzan") / "images_original"
    for genre, horizontal in (("classical", True), ("disco", False)):
        (root / genre).mkdir(parents=True)
        for i in range(8):
            stripes(horizontal, i).save(root / genre / f"{genre}{i:05d}.png")
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_an_image_folder_is_listed_with_gtzan_track_ids(images, tmp_path):
    table = image_folder(images)
    assert len(table) == 16 and set(table["label"]) == {"classical", "disco"}
    assert table["group"].iloc[0] == "classical.00000"
    X, kept, errors = read_images(table["path"].tolist()[:2], (24, 16))
    assert X.shape == (2, 16, 24) and X.dtype == np.float32 and 0 <= X.min() < X.max() <= 1
    assert kept == [0, 1] and not errors
    # Cover art beside songs is no image dataset.
    (tmp_path / "rock").mkdir()
    stripes(True, 0).save(tmp_path / "rock" / "cover.png")
    (tmp_path / "rock" / "song.wav").write_bytes(b"")
    assert image_folder(tmp_path) is None


def test_train_and_evaluate_an_image_backbone_on_png_spectrograms(images, tmp_path, capsys):
    bundle = tmp_path / "resnet"
    code, _, err = run(
        [
            "train", "--data", str(images), "--model", "image_resnet", "--split", "random-50-25-25",
            "-p", f"config={TINY_RESNET}", "--epochs", "8", "--lr", "0.01", "-p", "batch_size=4",
            "--augment", "mixup", "-o", str(bundle),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    card = json.loads((bundle / "card.json").read_text())
    assert card["frontend"] == {
        "kind": "image",
        "mode": "L",
        "height": 32,
        "width": 48,
        "resize": "bilinear",
        "scale": "grey level / 255, in [0, 1]",
    }
    assert card["training"]["images"] == 8 and card["training"]["augment"] == ["mixup"]
    scores = {e["split"]: e["metrics"]["accuracy"] for e in card["validation"]}
    assert set(scores) == {"valid", "test", "train"} and scores["train"] == 1.0
    assert (bundle / "curves.png").is_file() and len(
        (bundle / "history.csv").read_text().splitlines()
    ) == 9

    report = tmp_path / "eval"
    code, _, err = run(["evaluate", str(bundle), "--data", str(images), "-o", str(report)], capsys)
    assert code == 0, err
    metrics = json.loads((report / "metrics.json").read_text())
    assert sum(sum(row) for row in metrics["confusion_matrix"]) == 16
    assert metrics["accuracy"] >= 0.75

    code, _, err = run(
        ["classify", str(images / "disco" / "disco00000.png"), "-m", str(bundle)], capsys
    )
    assert code == 2 and "trained on spectrogram images" in err


def test_audio_augmentations_and_other_models_are_refused_for_images(images, tmp_path, capsys):
    base = ["train", "--data", str(images), "-o", str(tmp_path / "m")]
    code, _, err = run([*base, "--model", "image_resnet", "--augment", "noise"], capsys)
    assert code == 2 and "batch augmentations only" in err
    code, _, err = run([*base, "--model", "cnn"], capsys)
    assert code == 2 and "image backbones" in err and len(err.strip().splitlines()) == 1
