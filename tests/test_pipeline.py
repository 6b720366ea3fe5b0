"""Classifying signals and files with a bundle: windows, timeline, aggregation, failures."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.errors import AudioError
from genrelab.pipeline import Classifier


@pytest.fixture(scope="module")
def classifier(tiny_bundle):
    return Classifier(tiny_bundle)


def test_signal_gets_a_timeline_of_windows_and_a_consistent_answer(classifier):
    y = synth.song(7.0, style="classical", seed=11)
    result = classifier.classify(y, 22050)
    # 2 s windows every 2 s over 7 s: 0-2, 2-4, 4-6 and an end-aligned 5-7 for the 1 s tail.
    assert [(w.start, w.end) for w in result.windows] == [(0, 2), (2, 4), (4, 6), (5, 7)]
    assert set(result.probabilities) == {"ambient", "classical", "rock"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    mean = np.mean([list(w.probabilities.values()) for w in result.windows], axis=0)
    np.testing.assert_allclose(list(result.probabilities.values()), mean)
    assert result.genre == max(result.probabilities, key=result.probabilities.get)
    assert result.confidence == result.probabilities[result.genre]


@pytest.mark.parametrize("style", ["classical", "rock", "ambient"])
def test_held_out_synthetic_styles_are_recognised(classifier, style):
    assert classifier.classify(synth.song(6.0, style=style, seed=99), 22050).genre == style


def test_resampled_input_gives_the_same_genre(classifier):
    y = synth.song(6.0, style="rock", seed=5)
    import soxr

    y44 = soxr.resample(y, 22050, 44100)
    assert classifier.classify(y44, 44100).genre == classifier.classify(y, 22050).genre


def test_middle_uses_only_the_centre_window(classifier):
    y = np.concatenate(
        [
            synth.song(4.0, style="classical", seed=1),
            synth.song(2.0, style="rock", seed=1),
            synth.song(4.0, style="classical", seed=2),
        ]
    )
    result = classifier.classify(y, 22050, aggregate="middle")
    assert [(w.start, w.end) for w in result.windows] == [(4.0, 6.0)]
    assert result.genre == "rock"


def test_file_path_streams_the_same_windows_as_the_signal_path(classifier, write_wav):
    y = synth.song(7.0, style="ambient", seed=3)
    path = write_wav("a.wav", y, subtype="FLOAT")
    from_file = classifier.classify(path)
    from_signal = classifier.classify(y, 22050, name=str(path))
    assert from_file.path == str(path)
    assert [(w.start, w.end) for w in from_file.windows] == [
        (w.start, w.end) for w in from_signal.windows
    ]
    np.testing.assert_allclose(
        list(from_file.probabilities.values()), list(from_signal.probabilities.values()), atol=1e-9
    )


def test_too_short_audio_is_a_clear_error(classifier, write_wav):
    path = write_wav("short.wav", synth.tone(440, 0.5))
    with pytest.raises(AudioError, match=r"0\.5 s long; this model needs at least 2\.0 s"):
        classifier.classify(path)


def test_batch_records_failures_and_goes_on(classifier, write_wav, tmp_path):
    good = write_wav("good.wav", synth.song(4.0, style="rock", seed=8))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    empty = tmp_path / "empty.flac"
    empty.touch()
    results = list(classifier.classify_many([text, good, empty]))
    assert [r.path for r in results] == [str(text), str(good), str(empty)]
    assert not results[0].ok and "notes.wav" in results[0].error
    assert results[1].genre == "rock" and results[1].ok
    assert not results[2].ok and "empty.flac" in results[2].error


def test_silence_is_refused_not_classified(classifier, write_wav):
    path = write_wav("silence.wav", np.zeros(3 * 22050, dtype=np.float32))
    with pytest.raises(AudioError, match=r"silence\.wav: no music detected"):
        classifier.classify(path)
    assert sf.info(path).frames == 3 * 22050
