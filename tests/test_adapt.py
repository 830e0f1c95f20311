"""scripts/adapt end to end: transcripts from the grammar, sphinx_fe, bw and mllr_solve, a transform
PocketSphinx loads."""

import json
import subprocess
import sys
from pathlib import Path

from carvoice.audio.synth import utterance
from carvoice.audio.wavfile import write_wav
from carvoice.profile import dictionary
from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]
WINDOW = "window"
GRAMMAR = "#JSGF V1.0; grammar w; public <c> = (open | close) the (driver | passenger) window;"
LABELLED = [
    ("open the driver window", {"window": "driver", "action": "open"}, "en-us"),
    ("close the passenger window", {"window": "passenger", "action": "close"}, "en-us"),
    ("open the driver window", {"window": "driver", "action": "open"}, "flite:slt"),
    ("close the passenger window", {"window": "driver", "action": "close"}, "flite:slt"),  # labelled wrongly
]


@needs("espeak-ng", "flite", "sphinx_fe", "/usr/lib/sphinxtrain/bw")
def test_adaptation_leaves_out_what_was_not_heard_as_labelled_and_gives_a_loadable_transform(tmp_path):
    lines = []
    for index, (text, slots, voice) in enumerate(LABELLED):
        write_wav(tmp_path / f"{index}.wav", utterance(text, voice))
        lines.append(json.dumps({"audio": f"{index}.wav", "text": text, "intent": WINDOW, "slots": slots}))
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "adapted"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "adapt"), str(tmp_path / "manifest.jsonl"), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 of 4 recordings heard as labelled" in done.stderr
    transcripts = (out / "train.transcription").read_text().splitlines()
    assert len(transcripts) == 3 and all("passenger" not in t or "close" in t for t in transcripts)
    rows = (out / "mllr_matrix").read_text().split()
    assert rows[:3] == ["1", "3", "13"], "one class, three streams of 13"

    import pocketsphinx

    config = pocketsphinx.Config(
        hmm=str(dictionary.model_dir() / "en-us"), mllr=str(out / "mllr_matrix"), loglevel="FATAL", lm=None
    )
    decoder = pocketsphinx.Decoder(config)
    decoder.add_jsgf_string("window", GRAMMAR)
    decoder.activate_search("window")
    decoder.start_utt()
    decoder.process_raw(utterance("close the passenger window").tobytes(), full_utt=True)
    decoder.end_utt()
    assert decoder.hyp() is not None and decoder.hyp().hypstr == "close the passenger window"
