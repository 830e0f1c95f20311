"""The wheel's acoustic model in the s3 forms sphinxtrain reads, checked by PocketSphinx itself."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from carvoice.audio.wavfile import read_wav
from carvoice.profile import dictionary
from carvoice.recognise.model_files import (
    ModelFileError,
    read_sendump,
    text_mdef,
    weights_from_sendump,
    write_mixture_weights,
)

DEMO = Path(__file__).resolve().parents[1] / "carvoice" / "data" / "demo.wav"


def phone_loop(model: Path, samples: np.ndarray) -> tuple[str, int, list[tuple[str, int, int, int]]]:
    import pocketsphinx

    config = pocketsphinx.Config(hmm=str(model), lm=None, loglevel="FATAL", mixwfloor=1e-30, topn=32)
    decoder = pocketsphinx.Decoder(config)
    decoder.add_allphone_file("phones", None)
    decoder.activate_search("phones")
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr, hyp.best_score, [(s.word, s.start_frame, s.end_frame, s.ascore) for s in decoder.seg()]


def test_converted_model_decodes_as_the_shipped_one(tmp_path):
    """mixture_weights and a text mdef in place of sendump and the binary mdef: the same phones,
    the same frames, the same scores (each weight is written back as the middle of its step)."""
    shipped = dictionary.model_dir() / "en-us"
    converted = tmp_path / "en-us"
    shutil.copytree(shipped, converted)
    (converted / "sendump").unlink()
    write_mixture_weights(converted / "mixture_weights", weights_from_sendump(read_sendump(shipped / "sendump")))
    (converted / "mdef").write_text(text_mdef(shipped / "mdef"))
    samples = read_wav(DEMO)[: 4 * 16000]
    expected = phone_loop(shipped, samples)
    assert len(expected[2]) > 10, "the phone loop should find speech in the demo recording"
    assert phone_loop(converted, samples) == expected


def test_weights_are_distributions():
    quantised = read_sendump(dictionary.model_dir() / "en-us" / "sendump")
    weights = weights_from_sendump(quantised)
    streams, densities, senones = quantised.shape
    assert weights.shape == (senones, streams, densities)
    assert np.allclose(weights.sum(axis=2), 1.0, atol=1e-5)
    assert (weights > 0).all()


def test_text_mdef_lists_every_phone():
    lines = text_mdef(dictionary.model_dir() / "en-us" / "mdef").splitlines()
    counts = {line.split()[1]: int(line.split()[0]) for line in lines[1:7]}
    phones = [line.split() for line in lines if not line.startswith("#")][7:]
    assert len(phones) == counts["n_base"] + counts["n_tri"]
    assert next(p[:5] for p in phones if p[0] == "SIL") == ["SIL", "-", "-", "-", "filler"]
    assert all(len(p) == 10 and p[-1] == "N" for p in phones), "base, contexts, position, attribute, tmat, 3 states, N"
    states = {int(s) for p in phones for s in p[6:9]}
    assert max(states) + 1 == counts["n_tied_state"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sendump", b"\x05\x00\x00\x00abc", "ends inside its header"),
        ("sendump", b"\xff\xff\x00\x00", "not a sendump"),
        ("mdef", b"0.3\n42 n_base\n", "not a binary model definition"),
    ],
)
def test_broken_model_file_is_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as caught:
        read_sendump(path) if name == "sendump" else text_mdef(path)
    assert str(path) in str(caught.value)


def test_truncated_sendump_is_named(tmp_path):
    shipped = (dictionary.model_dir() / "en-us" / "sendump").read_bytes()
    path = tmp_path / "sendump"
    path.write_bytes(shipped[:-100])
    with pytest.raises(ModelFileError, match=r"sendump: \d+ bytes of weights, expected 3 x 128 x 5126"):
        read_sendump(path)
