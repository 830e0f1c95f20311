"""scripts/adapt end to end: transcripts from the grammar, sphinx_fe, bw and mllr_solve, a transform
PocketSphinx loads."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

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

    shipped = pocketsphinx.Config(hmm=str(dictionary.model_dir() / "en-us"), loglevel="FATAL", lm=None)
    utterance_id = (out / "train.fileids").read_text().split()[0]
    raw = (out / "raw" / f"{utterance_id}.raw").read_bytes()
    cepstra = np.fromfile(out / "mfc" / f"{utterance_id}.mfc", dtype="<f4")[1:]  # after the count
    heard = decoded(shipped, raw)
    assert heard[0] in {text for text, _, _ in LABELLED}
    assert decoded(shipped, cepstra) == heard, "bw must see the features the decoder sees"

    adapted = pocketsphinx.Config(
        hmm=str(dictionary.model_dir() / "en-us"), mllr=str(out / "mllr_matrix"), loglevel="FATAL", lm=None
    )
    words, _ = decoded(adapted, utterance("close the passenger window").tobytes())
    assert words == "close the passenger window"


def decoded(config, audio: bytes | np.ndarray) -> tuple[str, list[tuple[str, int, int, int]]]:
    """The words and their segments, from audio samples (bytes) or cepstra (float32, 13 a frame)."""
    import pocketsphinx

    decoder = pocketsphinx.Decoder(config)
    decoder.add_jsgf_string("window", GRAMMAR)
    decoder.activate_search("window")
    decoder.start_utt()
    if isinstance(audio, bytes):
        decoder.process_raw(audio, full_utt=True)
    else:
        decoder.process_cep(audio.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return (hyp.hypstr if hyp else ""), [(s.word, s.start_frame, s.end_frame, s.ascore) for s in decoder.seg()]
