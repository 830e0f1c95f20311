"""Why correctly heard real orders are rejected: the checks they fail, beside a cut-off's (issue 12)."""

import pytest

from carvoice.audio.synth import utterance
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.evaluation.calibrate import OPEN, failing
from carvoice.recognise.command import Calibration, CommandRecogniser
from carvoice.recognise.engine import engine_for
from tests.conftest import COFFEE, needs

pytestmark = needs("flite")

ORDER = "can i get a triple shot cappuccino with sugar and milk"


@pytest.fixture(scope="module")
def measuring():
    """The coffee profile's recogniser with every check off: it measures and doubts nothing."""
    profile = load_profile(COFFEE)
    return CommandRecogniser(engine_for(profile), profile, OPEN)


def test_a_real_speakers_unreleased_last_stop_fails_as_a_cut_off_does(measuring, shared_data):
    """A real speaker who does not release the "k" of "milk" and a voice that stops after "mil"
    leave the same audio: "milk" with its last phone squeezed to the shortest the model allows.
    The shipped floors reject both; that is the price of never completing a cut-off."""
    shipped = Calibration()
    real = measuring.recognise(read_wav(shared_data / "coffee" / "clean" / "33bdf715-ce04-408d-b3d7-c77900fc9ed1.wav"))
    assert real.text == ORDER and "last_phone_frames" in failing(real, shipped)
    cut = measuring.recognise(utterance("can i get a triple shot cappuccino with sugar and mil", "flite:slt"))
    assert cut.text == ORDER and "last_phone_frames" in failing(cut, shipped)
    assert cut.judged(shipped).doubt == '"milk" was cut short'
    whole = measuring.recognise(utterance(ORDER, "flite:slt"))
    assert whole.text == ORDER and failing(whole, shipped) == [] and whole.judged(shipped).doubt is None
