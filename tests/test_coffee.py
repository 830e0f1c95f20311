"""The coffee-maker profile: another domain, no CAN bus, and real recorded orders."""

import json

import pytest

from carvoice import events
from carvoice.check import load_profile
from carvoice.cli import main
from tests.conftest import COFFEE


def test_it_loads_without_a_bus_and_understands_its_examples():
    profile = load_profile(COFFEE)
    assert profile.dbc is None and list(profile.intents) == ["order_drink"]
    assert all(not intent.actions for intent in profile.intents.values())
    readings = profile.readings("can i get a large double shot dark roast latte with soy milk and some sugar".split())
    assert readings == [
        (
            "order_drink",
            {
                "size": "large",
                "number_of_shots": "double shot",
                "roast": "dark roast",
                "coffee_drink": "latte",
                "milk_amount": "soy milk",
                "sugar_amount": "some sugar",
            },
        )
    ]
    assert profile.readings("can i get a large".split()) == []  # a drink is required
    assert profile.readings("a large latte".split()) == []  # so is the carrier phrase


def test_typed_order_gets_the_reply_and_no_frames(capsys):
    """A profile with no actions: the order is understood and answered, and nothing else happens."""
    order = "brew an iced mocha with a lot of cream"
    assert main(["text", "--profile", str(COFFEE), "--no-speech", "--events", "json", order]) == 0
    heard = [events.from_json_line(line) for line in capsys.readouterr().out.splitlines()]
    assert [type(e) for e in heard] == [events.Intent, events.Say]
    intent, say = heard
    assert isinstance(intent, events.Intent) and isinstance(say, events.Say)
    assert intent.intent == "order_drink"
    assert intent.slots == {"coffee_drink": "iced mocha", "milk_amount": "a lot of cream"}
    assert say.text == "One iced mocha coming up."


@pytest.mark.slow
def test_real_recorded_orders(shared_data, tmp_path, capsys):
    """Two real speakers from ../shared/data/coffee, decoded as the daemon would."""
    lines = (shared_data / "coffee" / "manifest.jsonl").read_text().splitlines()[:2]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps(line | {"audio": str(shared_data / "coffee" / line["audio"])}) + "\n"
            for line in map(json.loads, lines)
        )
    )
    assert main(["eval", "--profile", str(COFFEE), str(manifest), "--jobs", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["n"] == 2 and summary["command_accuracy"] == 1.0 and summary["slot_accuracy"] == 1.0
