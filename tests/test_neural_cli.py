"""``genrelab train`` with neural models: bundles usable by classify/evaluate, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from genrelab import synth  # noqa: E402
from genrelab.cli import main  # noqa: E402

TINY_CNN = ["-p", "channels=[4,8,8]", "-p", "dense=8", "--frontend", "n_mels=32"]
CLI = "import sys; from genrelab.cli import main; main(sys.argv[1:])"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread, and the test machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def textures(tmp_path_factory) -> Path:
    """Five 3 s clips of tones, noise and drums each (random-60-20-20: 3/1/1 per class)."""
    root = tmp_path_factory.mktemp("textures")
    makers = {
        "tones": lambda i: synth.tone(150 * (i + 1), 3.0, amp=0.4),
        "noise": lambda i: synth.noise(3.0, amp=0.3, seed=i, color="pink"),
        "drums": lambda i: synth.drums(3.0, bpm=100 + 15 * i, seed=i),
    }
    for label, make in makers.items():
        (root / label).mkdir()
        for i in range(5):
            sf.write(root / label / f"{label}.{i:05d}.wav", make(i), 22050, subtype="PCM_16")
    return root


def test_a_neural_bundle_works_with_classify_and_evaluate_unchanged(textures, tmp_path, capsys):
    bundle = tmp_path / "cnn"
    code, out, err = run(
        [
            "train",
            "--data",
            str(textures),
            "--model",
            "cnn",
            "--epochs",
            "2",
            "--window",
            "1",
            "--split",
            "random-60-20-20",
            "--augment",
            "gain,specaugment",
            "-o",
            str(bundle),
            *TINY_CNN,
        ],
        capsys,
    )
    assert code == 0, err
    card = json.loads((bundle / "card.json").read_text())
    assert card["frontend"] == {
        "kind": "melspec",
        "n_mels": 32,
        "n_fft": 2048,
        "hop": 512,
        "duration": 1.0,
    }
    assert card["windowing"] == {"window_s": 1.0, "hop_s": 1.0, "min_s": 1.0}
    assert [v["split"] for v in card["validation"]] == ["valid", "test", "train"]
    assert card["validation"][0]["metrics"]["n"] == 3
    assert card["training"]["augment"] == ["gain", "specaugment"]
    assert card["training"]["windows_per_epoch"] == 9 * 3
    assert len((bundle / "history.csv").read_text().splitlines()) == 1 + 2
    assert (bundle / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "cnn.checkpoint").exists()

    clip = textures / "drums" / "drums.00000.wav"
    code, out, err = run(["classify", "--model", str(bundle), "--json", str(clip)], capsys)
    assert code == 0, err
    result = json.loads(out)[0]
    assert set(result["probabilities"]) == {"drums", "noise", "tones"}
    assert len(result["windows"]) == 3  # 3 s of audio in 1 s windows

    code, out, err = run(
        ["evaluate", str(bundle), "--data", str(textures), "-o", str(tmp_path / "e")], capsys
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["n"] + metrics["seen_rows"] == 15 and metrics["seen_rows"] > 0


def test_a_recurrent_model_can_read_mel_frames_instead_of_mfcc(textures, tmp_path, capsys):
    bundle = tmp_path / "gru"
    argv = ["train", "--data", str(textures), "--model", "gru", "--epochs", "1", "--window", "1"]
    options = ["--frontend", "kind=melspec", "--frontend", "n_mels=24", "-p", "hidden=4"]
    code, _, err = run([*argv, *options, "-o", str(bundle)], capsys)
    assert code == 0, err
    card = json.loads((bundle / "card.json").read_text())
    assert card["frontend"] == {"kind": "melspec", "n_mels": 24, "duration": 1.0}
    assert json.loads((bundle / "model" / "meta.json").read_text())["input_shape"][0] == 24


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--augment", "wobble"], "unknown augmentation 'wobble'"),
        (["--augment", "noise:snr=3"], "bad setting 'snr=3'"),
        (["--split", "kfold-3"], "single split"),
        (["-p", "schedule=linear"], "unknown schedule 'linear'"),
    ],
)
def test_bad_neural_options_print_one_line_and_exit_2(textures, tmp_path, extra, message, capsys):
    argv = ["train", "--data", str(textures), "--model", "cnn", "-o", str(tmp_path / "b"), *extra]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_torch_stays_out_of_start_up_and_of_feature_model_classification(tiny_bundle, write_wav):
    clip = write_wav("song.wav", synth.song(4.0, style="rock"))
    code = (
        "import sys\n"
        "from genrelab.cli import main\n"
        "assert 'torch' not in sys.modules, 'start-up'\n"
        f"try:\n    main(['classify', '--model', {str(tiny_bundle)!r}, {str(clip)!r}])\n"
        "except SystemExit as done:\n    assert done.code == 0\n"
        "assert 'torch' not in sys.modules, 'classify'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _train(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    argv = [
        "train",
        "--data",
        str(data),
        "--model",
        "cnn",
        "--epochs",
        "3",
        "--window",
        "1",
        "--batch-size",
        "2",
        "--split",
        "random-60-20-20",
        "--seed",
        "3",
        "-o",
        str(out),
        "--checkpoint-every",
        "1",
        "-p",
        "dropout=0.5",
        *TINY_CNN,
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_killed_mid_epoch_then_resumed_ends_exactly_like_an_uninterrupted_run(textures, tmp_path):
    straight = _train(textures, tmp_path / "straight")
    victim = _train(textures, tmp_path / "victim")
    checkpoint = tmp_path / "victim.checkpoint" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    state = torch.load(checkpoint, weights_only=True)["progress"]
    assert state["epoch"] < 3 and state["batch"] > 0  # killed mid-epoch
    assert not (tmp_path / "victim").exists()

    resumed = _train(textures, tmp_path / "victim", "--resume")
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert straight.wait() == 0, straight.stderr.read().decode()

    a = load_file(tmp_path / "straight" / "model" / "weights.safetensors")
    b = load_file(tmp_path / "victim" / "model" / "weights.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    cards = [json.loads((tmp_path / n / "card.json").read_text()) for n in ("straight", "victim")]
    assert cards[0]["validation"] == cards[1]["validation"]
    histories = [(tmp_path / n / "history.csv").read_text() for n in ("straight", "victim")]
    assert histories[0] == histories[1]


@pytest.mark.slow
def test_the_report_cnn_fits_the_dev_clips_and_classifies_one(gtzan_dev, tmp_path, capsys):
    """About 2 CPU-minutes; the wall time depends on what else shares the cores."""
    bundle = tmp_path / "dev-cnn"
    argv = ["train", "--data", str(gtzan_dev), "--model", "cnn", "--epochs", "15", "--window", "3"]
    code, _, err = run([*argv, "-o", str(bundle)], capsys)
    assert code == 0, err
    card = json.loads((bundle / "card.json").read_text())
    train = next(v for v in card["validation"] if v["split"] == "train")
    assert train["metrics"]["n"] == 20 and train["metrics"]["accuracy"] >= 0.9
    clip = gtzan_dev / "metal" / "metal.00000.wav"
    code, out, err = run(["classify", "--model", str(bundle), "--json", str(clip)], capsys)
    assert code == 0, err
    assert np.isclose(sum(json.loads(out)[0]["probabilities"].values()), 1.0)
