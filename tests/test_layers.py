"""The house: which part of carvoice may import which (README, "Architecture").

Every import in the package, at the top of a module or inside a function, must point to its own
part or to a lower layer. A back-edge fails here, before it makes two parts depend on each other.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import carvoice

PACKAGE = Path(carvoice.__file__).parent

# Lowest first. A part is a subpackage or a top-level module of carvoice.
LAYERS: list[set[str]] = [
    {"errors", "lifetime", "events"},  # what every stage shares
    {"intent", "audio"},  # words and grammars; sound
    {"profile"},  # reading, checking and modelling a profile
    {"act", "recognise", "speak"},  # planning and sending actions; hearing commands; speaking
    {"safety", "wake"},  # the profile's rules and the frame policy; the wake phrase
    {"vehicle"},  # the car's bus and state
    {"check", "sim"},  # a profile with the checks that need the stages above `profile`; the simulated car
    {"agent"},  # the pipeline
    {"factory", "service"},  # building the agent; running it as a daemon
    {"bundle", "evaluation"},  # installing profiles; measuring the agent
    {"cli", "__init__"},  # the command line
    {"__main__"},  # python -m carvoice
]

def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else relative[0].removesuffix(".py")


def imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module]
            if node.module == "carvoice":  # from carvoice import events
                names = [f"carvoice.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        parts |= {name.split(".")[1] for name in names if name.startswith("carvoice.")}
    return parts - {"__version__"}  # from carvoice import __version__: the package's own


def edges() -> set[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        source = part_of(path)
        found |= {(source, target) for target in imported_parts(path) if target != source}
    return found


def layer_of(part: str) -> int:
    [layer] = [number for number, members in enumerate(LAYERS) if part in members]
    return layer


def test_every_part_has_a_layer():
    parts = {part_of(path) for path in PACKAGE.rglob("*.py")}
    assert parts == set().union(*LAYERS)


def test_no_two_parts_import_each_other():
    found = edges()
    assert sorted((s, t) for s, t in found if (t, s) in found) == []


def test_imports_point_down_only():
    upward = sorted((s, t) for s, t in edges() if layer_of(t) >= layer_of(s))
    assert upward == [], "imports that point up, or across a layer: " + ", ".join(f"{s} -> {t}" for s, t in upward)


def test_imports_name_carvoice_in_full():
    """Relative imports ("from ..vehicle import x") would slip past the layer checks above."""
    relative = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_the_daemon_loads_no_code_it_does_not_run():
    """`carvoice run` builds only its own subcommand: the evaluation, simulator and bundle code (and
    the libraries they bring) would cost the head unit memory and start-up for nothing. A fresh
    interpreter, as the daemon starts; every subcommand is still there when none is named."""
    probe = (
        "import sys\n"
        "from carvoice.cli import build_parser\n"
        "build_parser(['run', '--audio', 'x.wav'])\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('carvoice.') and m.count('.') > 0}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('carvoice.cli.')))\n"
        "choices = build_parser([])._subparsers._group_actions[0].choices\n"
        "print(sorted(choices))\n"
    )
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    parts, commands, every = (ast.literal_eval(line) for line in printed.splitlines())
    assert {"agent", "service", "recognise", "wake"} <= set(parts)
    assert not {"evaluation", "sim", "bundle"} & set(parts)
    assert commands == ["carvoice.cli._common", "carvoice.cli.run"]
    assert {"run", "eval", "sim", "bundle", "check", "text"} <= set(every)


def test_the_daemon_hears_commands_without_tls_openssl_or_isotp_and_reads_cmudict_once():
    """What `carvoice run` keeps out of its memory (README, "Memory and start-up"): ssl and OpenSSL's
    hashes, which python-can and numpy.random would bring in though the daemon has no network
    (4.6 MB), can-isotp where the profile polls no OBD-II over CAN, numpy.ma, which np.percentile
    and np.median import (1.3 MB); and CMUdict's 134,860 lines are
    read once for the profile, the outside words and the answers. A fresh interpreter runs the demo
    recording through the daemon, so the first command's decoding and checks have run too."""
    probe = (
        "import json, sys\n"
        "import carvoice.profile.dictionary as dictionary\n"
        "reads = []\n"
        "read = dictionary._read\n"
        "dictionary._read = lambda *args: (reads.append(len(args[1])), read(*args))[1]\n"
        "from carvoice.cli import main\n"
        "status = main(['run', '--demo', '--no-speech', '--events', 'json', '--can', 'virtual:layers-probe'])\n"
        "print(json.dumps({'status': status, 'reads': reads, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    daemon = json.loads(ran.stderr.splitlines()[-1])
    events = [json.loads(line)["event"] for line in ran.stdout.splitlines()]
    assert daemon["status"] == 0 and "intent" in events
    assert not {"ssl", "_ssl", "_hashlib", "isotp", "soxr", "difflib", "numpy.ma"} & set(daemon["modules"])
    assert {"can", "asyncio", "hashlib", "numpy.random"} <= set(daemon["modules"])  # each still there, without them
    assert len(daemon["reads"]) == 1
