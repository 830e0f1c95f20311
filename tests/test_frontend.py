"""The front ends `carvoice eval` measures really run: the suppressors change the audio, the
decoder options reach PocketSphinx's feature extraction (README, "Front ends tried")."""

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.frontend import FrontEnd
from carvoice.audio.synth import utterance
from carvoice.cli.eval import decoder_settings
from carvoice.recognise.engine import COMMAND, engine_for
from tests.conftest import needs


def test_front_end_specs_parse_or_say_what_is_wrong():
    assert FrontEnd.parse("speex:-30") == FrontEnd("speex", -30, 0.0)
    assert FrontEnd.parse("webrtc:1:3") == FrontEnd("webrtc", 1, 3.0)
    for bad in ("rnnoise:2", "speex", "speex:loud", "webrtc:1:2:3"):
        with pytest.raises(ValueError):
            FrontEnd.parse(bad)


@pytest.mark.parametrize("spec", ["speex:-30", "webrtc:2"])
def test_a_suppressor_quietens_steady_noise_and_keeps_the_length(spec):
    rng = np.random.default_rng(0)
    hiss = np.clip(rng.normal(0.0, 600.0, 2 * SAMPLE_RATE), -32768, 32767).astype(np.int16)
    out = FrontEnd.parse(spec).process(hiss)
    assert len(out) == len(hiss) and out.dtype == np.int16
    second = slice(SAMPLE_RATE, None)  # once the suppressor has learnt the noise
    level = 10 * np.log10(np.mean(out[second].astype(float) ** 2) / np.mean(hiss[second].astype(float) ** 2))
    assert level < -6.0


def test_decoder_options_parse_as_pocketsphinx_values():
    assert decoder_settings("remove_noise=no, fillprob=1e-3,cmn=live") == {
        "remove_noise": False,
        "fillprob": 1e-3,
        "cmn": "live",
    }
    with pytest.raises(ValueError, match="no option 'nonsense'"):
        decoder_settings("nonsense=1")
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        decoder_settings("fillprob")


@needs("flite")
def test_a_front_end_option_changes_what_the_decoder_computes(demo_profile, engine):
    """The model's feat.params would silently override `remove_noise`: the option must win."""
    changed = engine_for(demo_profile, settings={"remove_noise": False})
    assert changed.decoder.config["remove_noise"] is False
    assert engine.decoder.config["remove_noise"] is True
    audio = utterance("lock the doors", "flite:slt", seed=1)
    shipped, other = engine.decode(COMMAND, audio), changed.decode(COMMAND, audio)
    assert shipped is not None and other is not None
    assert shipped.text == other.text == "lock the doors"
    assert shipped.log_score != other.log_score
