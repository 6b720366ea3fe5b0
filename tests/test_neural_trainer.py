"""The training loop: schedules, early stopping, class weights, determinism and exact resume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genrelab.errors import ModelError  # noqa: E402
from genrelab.models import create_model  # noqa: E402
from genrelab.neural.data import ArrayBatches, ValidationSet, WindowBatches  # noqa: E402
from genrelab.neural.trainer import Trainer, class_weight_vector, lr_factor  # noqa: E402

TINY_CNN = {"channels": [4, 8], "dense": 8, "device": "cpu"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread, and the test machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blobs(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 8x10 'spectrograms' whose class sets the brightness of one band."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"] * (n // 3))
    X = rng.normal(size=(n, 8, 10)).astype(np.float32)
    for i, label in enumerate(y):
        X[i, "abc".index(label) * 3] += 2.0
    return X, y


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_warm_up_then_cosine_step_and_constant_schedules():
    factors = [lr_factor("cosine", s, total=100, warmup=10) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] < 0.01
    steps = {round(lr_factor("step", s, total=100, warmup=0), 6) for s in range(100)}
    assert steps == {1.0, 0.1, 0.01}
    assert lr_factor("constant", 99, total=100, warmup=0) == 1.0


def test_class_weights_are_inverse_frequency():
    w = class_weight_vector(np.array([0, 0, 0, 1]), 2)
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


def test_gradient_accumulation_takes_one_optimiser_step_per_group_of_batches():
    X, y = blobs(24)
    model = create_model("cnn", epochs=2, batch_size=4, grad_accum=4, **TINY_CNN)
    model.setup(set(y), X)
    trainer = Trainer(model, progress=False)
    trainer.fit(ArrayBatches(X, model.encode_labels(y), 4, 0))
    assert trainer.scheduler.last_epoch == 2 * 2  # 6 batches per epoch -> 2 steps


def test_same_seed_same_weights_other_seed_other_weights():
    X, y = blobs()
    runs = [create_model("cnn", epochs=2, seed=s, **TINY_CNN).fit(X, y) for s in (1, 1, 2)]
    assert_same_weights(weights(runs[0]), weights(runs[1]))
    with pytest.raises(AssertionError):
        assert_same_weights(weights(runs[0]), weights(runs[2]))


def test_early_stopping_ends_when_validation_stops_improving():
    X, y = blobs()
    frozen = dict(lr=0.0, weight_decay=0.0, batch_norm=False)  # nothing changes: epoch 1 is best
    model = create_model("cnn", epochs=10, patience=2, **frozen, **TINY_CNN)
    model.fit(X, y, X_valid=X, y_valid=y)
    assert len(model.history_) == 3
    assert len({row["valid_loss"] for row in model.history_}) == 1


def test_the_weights_of_the_best_validation_epoch_are_kept():
    X, y = blobs(30)
    model = create_model("cnn", epochs=6, lr=0.03, batch_size=4, **TINY_CNN)
    model.setup(set(y), X)
    wrong = np.roll(model.encode_labels(y), 1)  # learning the task makes this loss worse
    valid = ValidationSet(X, wrong)
    trainer = Trainer(model, progress=False)
    trainer.fit(ArrayBatches(X, model.encode_labels(y), 4, 0), valid)
    losses = [row["valid_loss"] for row in model.history_]
    assert np.argmin(losses) < len(losses) - 1
    assert trainer.validate(valid)["valid_loss"] == pytest.approx(min(losses), abs=1e-6)


def test_validation_scores_tracks_by_mean_window_probability():
    valid = ValidationSet(
        np.zeros((4, 1)), np.array([0, 0, 1, 1]), np.array(["t1", "t1", "t2", "t2"])
    )
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.4, 0.6]])
    ids, labels = valid.track_labels()
    assert ids.tolist() == ["t1", "t2"] and labels.tolist() == [0, 1]
    np.testing.assert_allclose(valid.track_proba(proba), [[0.55, 0.45], [0.4, 0.6]])


def test_random_windows_are_a_function_of_seed_epoch_and_batch():
    tracks = [np.arange(1000, dtype=np.float32) + 1000 * i for i in range(3)]

    def source(seed):
        return WindowBatches(tracks, np.arange(3), 100, 1.0, lambda w, sr: np.stack(w), 2, seed, 2)

    a, b = source(0), source(0)
    assert len(a) == 3
    np.testing.assert_array_equal(a.batch(1, 2)[0], b.batch(1, 2)[0])
    assert not np.array_equal(a.batch(0, 0)[0], a.batch(1, 0)[0])
    assert not np.array_equal(a.batch(0, 0)[0], source(1).batch(0, 0)[0])
    x, labels = a.batch(0, 1)
    assert x.shape == (2, 100) and all(np.all(np.diff(row) == 1) for row in x)
    assert all(row[0] // 1000 == label for row, label in zip(x, labels, strict=True))


class Crash(Exception):
    pass


class CrashingBatches(ArrayBatches):
    """Raises when asked for one batch, as a killed process would stop there."""

    def __init__(self, *args, at: tuple[int, int]):
        super().__init__(*args)
        self.at = at

    def batch(self, epoch, index):
        if (epoch, index) == self.at:
            raise Crash
        return super().batch(epoch, index)


def test_a_run_resumed_mid_epoch_ends_exactly_like_an_uninterrupted_one(tmp_path):
    X, y = blobs(30)
    Xv, yv = blobs(9, seed=1)
    params = dict(epochs=3, batch_size=4, dropout=0.5, **TINY_CNN)

    def trainer(ckpt, resume=False):
        model = create_model("cnn", **params)
        model.setup(set(y), X)
        valid = ValidationSet(Xv, model.encode_labels(yv))
        t = Trainer(model, checkpoint_dir=ckpt, checkpoint_every=2, resume=resume, progress=False)
        return model, t, valid

    model, t, valid = trainer(tmp_path / "straight")
    t.fit(ArrayBatches(X, model.encode_labels(y), 4, model.seed), valid)

    crashed, t, valid = trainer(tmp_path / "crash")
    with pytest.raises(Crash):
        t.fit(CrashingBatches(X, crashed.encode_labels(y), 4, 0, at=(1, 5)), valid)
    resumed, t, valid = trainer(tmp_path / "crash", resume=True)
    t.fit(ArrayBatches(X, resumed.encode_labels(y), 4, 0), valid)

    assert_same_weights(weights(model), weights(resumed))
    assert resumed.history_ == model.history_


def test_resuming_with_other_settings_is_refused(tmp_path):
    X, y = blobs()
    model = create_model("cnn", epochs=1, **TINY_CNN)
    model.setup(set(y), X)
    Trainer(model, checkpoint_dir=tmp_path, progress=False).fit(
        ArrayBatches(X, model.encode_labels(y), 8, 0)
    )
    other = create_model("cnn", epochs=1, lr=0.1, **TINY_CNN)
    other.setup(set(y), X)
    with pytest.raises(ModelError, match="other settings"):
        Trainer(other, checkpoint_dir=tmp_path, resume=True, progress=False).fit(
            ArrayBatches(X, other.encode_labels(y), 8, 0)
        )


def test_batches_made_in_worker_processes_train_the_same_weights():
    tracks = [np.sin(np.arange(4000) * (0.01 + 0.01 * i)).astype(np.float32) for i in range(6)]
    labels = np.array([0, 1, 2] * 2)

    def fitted(workers: int):
        source = WindowBatches(tracks, labels, 1000, 1.0, _frames, 4, 0, 3)
        model = create_model("cnn", epochs=2, **TINY_CNN)
        model.setup(["a", "b", "c"], source.batch(0, 0)[0])
        Trainer(model, workers=workers, progress=False).fit(source)
        return weights(model)

    assert_same_weights(fitted(0), fitted(2))


def _frames(windows, sr):
    """A toy front end: each window as a (10, 100) image."""
    return np.stack([np.asarray(w, np.float32).reshape(10, 100) for w in windows])
