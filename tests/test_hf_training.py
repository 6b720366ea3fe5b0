"""``genrelab train --model hf``: the shared neural trainer's features on tiny local backbones.

Augmentation, ``--window``, kill and resume, curves, and failing fast without a network. The
backbones are random two-block AST and HuBERT models written with ``save_pretrained``; nothing
is downloaded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402

from genrelab import synth  # noqa: E402
from genrelab.cli import main  # noqa: E402
from genrelab.errors import ModelError  # noqa: E402
from genrelab.models import create_model, load_bundle  # noqa: E402
from hf_tiny import save_tiny_backbones  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

#: Small, quick settings shared by every run (two blocks: adapt the last one).
QUICK = ["-p", "hidden=8", "-p", "batch_size=4", "-p", "warmup_ratio=0", "-p", "lr=0.01"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny AST (1.015 s input) and a tiny HuBERT (DistilHuBERT's class), saved locally."""
    return save_tiny_backbones(tmp_path_factory.mktemp("hf"), ("ast", "hubert"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 2 s clips each of low tones and pink noise, at 22.05 kHz (the backbones want 16)."""
    root = tmp_path_factory.mktemp("clips")
    makers = {
        "tones": lambda i: synth.tone(150 * (i + 1), 2.0, amp=0.4),
        "noise": lambda i: synth.noise(2.0, amp=0.3, seed=i, color="pink"),
    }
    for label, make in makers.items():
        (root / label).mkdir()
        for i in range(5):
            sf.write(root / label / f"{label}.{i:05d}.wav", make(i), 22050, subtype="PCM_16")
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_same_weights(resumed: dict, whole: dict) -> None:
    assert resumed.keys() == whole.keys()
    for key in whole:
        torch.testing.assert_close(
            resumed[key], whole[key], rtol=1e-5, atol=1e-6, msg=lambda m, key=key: key + m
        )


def train_args(clips: Path, backbone: str, out: Path, *extra: str, model: str = "hf") -> list[str]:
    return [
        "train", "--data", str(clips), "--model", model, "--split", "random-60-20-20",
        "-p", f"backbone={backbone}", "-o", str(out), *QUICK, *extra,
    ]  # fmt: skip


def test_an_unknown_augmentation_is_one_line_listing_the_valid_ones(
    backbones, clips, tmp_path, capsys
):
    code, _, err = run(
        train_args(clips, backbones["ast"], tmp_path / "m", "--augment", "nonsense"), capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown augmentation 'nonsense'" in err and "noise" in err and "pitch_shift" in err
    assert not (tmp_path / "m").exists()


def test_ast_dora_with_augmentation_writes_curves_and_classifies(
    backbones, clips, tmp_path, capsys
):
    out = tmp_path / "ast"
    # The AST + DoRA recipe, on a backbone of two blocks instead of twelve.
    argv = train_args(clips, backbones["ast"], out, "-p", "adapter_from_layer=1", model="ast_dora")
    code, stdout, err = run([*argv, "--epochs", "2", "--augment", "noise:p=1:snr_db=5..10"], capsys)
    assert code == 0, err
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["augment"] == ["noise:p=1:snr_db=5..10"]
    assert card["training"]["epochs_run"] == 2
    assert card["frontend"]["kind"] == "hf" and card["frontend"]["duration"] == 1.015
    assert card["model"] == "ast_dora" and card["params"]["mode"] == "dora"
    assert {e["split"] for e in card["validation"]} >= {"valid", "test"}
    assert (out / "curves.png").stat().st_size > 0
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "valid_loss" in history[0]
    assert not out.with_name("ast.checkpoint").exists()
    # The augmentation reached the waveforms: the same run without it ends elsewhere.
    code, _, err = run(
        [*train_args(clips, backbones["ast"], tmp_path / "plain", "-p", "adapter_from_layer=1",
                     model="ast_dora"), "--epochs", "2"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with_noise = load_file(str(out / "model" / "weights.safetensors"))
    plain = load_file(str(tmp_path / "plain" / "model" / "weights.safetensors"))
    assert any(not torch.equal(with_noise[k], plain[k]) for k in plain)
    code, stdout, err = run(
        ["classify", str(clips / "tones" / "tones.00000.wav"), "-m", str(out), "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(stdout)[0]["genre"] in {"tones", "noise"}


@pytest.mark.parametrize(
    ("name", "window", "expected"), [("ast", "0.5", 0.5), ("hubert", "0.75", 0.75)]
)
def test_window_sets_what_the_backbone_sees(
    backbones, clips, tmp_path, capsys, name, window, expected
):
    out = tmp_path / name
    argv = train_args(clips, backbones[name], out, "-p", "mode=frozen", "--window", window)
    code, _, err = run([*argv, "--epochs", "1", "--augment", "bundle"], capsys)
    assert code == 0, err
    card = json.loads((out / "card.json").read_text())
    assert card["windowing"]["window_s"] == expected and card["frontend"]["duration"] == expected
    assert card["params"]["window_s"] == expected
    assert load_bundle(out).model.window_samples() == round(expected * 16000)


def test_a_window_longer_than_a_fixed_input_is_refused(backbones, clips, tmp_path, capsys):
    code, _, err = run(train_args(clips, backbones["ast"], tmp_path / "m", "--window", "2"), capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "longer than this backbone's 1.01 s input" in err


def test_killed_after_a_checkpoint_then_resumed_ends_like_an_uninterrupted_run(
    backbones, clips, tmp_path, capsys, monkeypatch
):
    from genrelab.neural.trainer import CHECKPOINT, Trainer

    argv = train_args(clips, backbones["hubert"], tmp_path / "whole", "-p", "mode=lora",
                      "-p", "adapter_from_layer=1", "--window", "0.5", "--epochs", "3")  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    whole = load_file(str(tmp_path / "whole" / "model" / "weights.safetensors"))

    save = Trainer._save

    def killed_after_epoch_one(self, progress, n_batches):
        save(self, progress, n_batches)
        if progress.epoch == 1:
            raise KeyboardInterrupt

    victim = [tmp_path / "victim" if a == str(tmp_path / "whole") else a for a in argv]
    victim = list(map(str, victim))
    monkeypatch.setattr(Trainer, "_save", killed_after_epoch_one)
    code, _, _ = run(victim, capsys)
    assert code == 130 and not (tmp_path / "victim").exists()
    checkpoint = tmp_path / "victim.checkpoint" / CHECKPOINT
    state = torch.load(checkpoint, weights_only=True)
    assert state["progress"]["epoch"] == 1
    assert not any(
        ".backbone." in k and "lora_" not in k for k in state["model"]
    )  # no frozen weights
    monkeypatch.setattr(Trainer, "_save", save)
    code, _, err = run([*victim, "--resume"], capsys)
    assert code == 0, err
    resumed = load_file(str(tmp_path / "victim" / "model" / "weights.safetensors"))
    assert_same_weights(resumed, whole)
    history = (tmp_path / "victim" / "history.csv").read_text()
    assert history == (tmp_path / "whole" / "history.csv").read_text()


def test_a_hub_id_without_network_fails_fast(monkeypatch, capsys, tmp_path):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"cannot download someone/no-such-model \(no network\?\)"):
        create_model("hf", backbone="someone/no-such-model").window_samples()
    assert time.perf_counter() - started < 5
    code, _, err = run(
        ["train", "--data", str(tmp_path), "--model", "hf", "-p", "backbone=someone/other"], capsys
    )
    assert code == 2 and err.strip().splitlines() == [
        "genrelab: error: cannot download someone/other (no network?): "
        "pass a local folder or set HF_HUB_OFFLINE=1"
    ]


def test_early_stopping_ends_fine_tuning_when_validation_stops_improving(
    backbones, clips, tmp_path, capsys
):
    out = tmp_path / "m"
    argv = train_args(clips, backbones["hubert"], out, "-p", "mode=frozen", "--window", "0.5")
    # lr 0: the validation loss never improves after the first epoch.
    code, _, err = run([*argv, "--epochs", "5", "--lr", "0", "-p", "patience=1"], capsys)
    assert code == 0, err
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["epochs_run"] == 2 and card["training"]["best_epoch"] == 1


def test_ast_dora_with_noise_and_pitch_killed_mid_epoch_resumes_to_the_same_weights(
    backbones, clips, tmp_path, capsys, monkeypatch
):
    """The AST + DoRA study's recipe with two augmentations: killed inside epoch 2 (after a
    mid-epoch checkpoint), resumed, it ends where an uninterrupted run ends, with curves."""
    from genrelab.neural.trainer import Trainer

    extra = ["-p", "adapter_from_layer=1", "--epochs", "2", "--augment", "noise,pitch_shift"]
    argv = train_args(clips, backbones["ast"], tmp_path / "whole", *extra, model="ast_dora")
    argv += ["--checkpoint-every", "1"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    whole = load_file(str(tmp_path / "whole" / "model" / "weights.safetensors"))
    card = json.loads((tmp_path / "whole" / "card.json").read_text())
    assert card["training"]["augment"] == ["noise", "pitch_shift"]

    save = Trainer._save
    killed_at = []

    def killed_mid_epoch_two(self, progress, n_batches):
        save(self, progress, n_batches)
        if progress.epoch == 1 and 0 < progress.batch < n_batches:
            killed_at.append((progress.epoch, progress.batch, n_batches))
            raise KeyboardInterrupt

    victim = [str(tmp_path / "victim") if a == str(tmp_path / "whole") else a for a in argv]
    monkeypatch.setattr(Trainer, "_save", killed_mid_epoch_two)
    code, _, _ = run(victim, capsys)
    assert code == 130 and killed_at, "the run was killed inside its second epoch"
    monkeypatch.setattr(Trainer, "_save", save)
    code, _, err = run([*victim, "--resume"], capsys)
    assert code == 0, err
    resumed = load_file(str(tmp_path / "victim" / "model" / "weights.safetensors"))
    assert_same_weights(resumed, whole)
    assert (tmp_path / "victim" / "curves.png").read_bytes()[:4] == b"\x89PNG"
