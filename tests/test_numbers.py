"""Decimal number slots: spoken the ways drivers say them, heard back as exactly the value meant."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from carvoice.act.plan import plan_actions
from carvoice.check import load_profile
from carvoice.intent.grammar import expansions
from carvoice.intent.numbers import spoken_forms
from tests.conftest import FILES

CAMPER = FILES / "profiles" / "camper"


@pytest.mark.parametrize(
    ("number", "forms"),
    [
        (21, ["twenty one"]),
        (Decimal("21.5"), ["twenty one point five", "twenty one and a half"]),
        (Decimal("0.5"), ["zero point five", "point five", "a half"]),
        (Decimal("7.25"), ["seven point two five", "seven and a quarter"]),
        (Decimal("12.75"), ["twelve point seven five", "twelve and three quarters"]),
        (Decimal("3.1"), ["three point one"]),
        (Decimal("30.0"), ["thirty"]),
    ],
)
def test_spoken_forms(number, forms):
    assert spoken_forms(number) == forms


def test_every_half_degree_of_the_camper_is_heard_as_itself_in_each_form():
    profile = load_profile(CAMPER)
    slot = profile.slot_types["degrees"]
    assert [v.value for v in slot.values] == [n / 2 if n % 2 else n // 2 for n in range(10, 61)]
    for value in slot.values:
        for form in expansions(value.spoken, {}):
            words = ["set", "the", "heater", "to", *form]
            assert profile.readings(words) == [("heater_setpoint", {"degrees": value.value})], words
            assert type(value.value) is (int if value.value == int(value.value) else float)


def _camper_with(tmp_path: Path, slot: str) -> Path:
    folder = tmp_path / "camper"
    shutil.copytree(CAMPER, folder)
    heater = folder / "heater.toml"
    heater.write_text(heater.read_text().replace("range = [5, 30]\nstep = 0.5", slot))
    return folder


def test_tenths_are_exact_values_not_float_sums(tmp_path):
    (tmp_path / "profile.toml").write_text(
        '[wake]\nphrase = "hello camper"\n[slots.volts]\nrange = [12, 13]\nstep = 0.1\n'
        '[intents.alarm]\nsentences = ["warn me below {volts} volts"]\nreply = "Below {volts} volts."\n'
    )
    profile = load_profile(tmp_path)
    values = [v.value for v in profile.slot_types["volts"].values]
    # Adding 0.1 three times to 12 gives 12.299999999999999: the values are counted in decimals.
    assert values == [12, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.7, 12.8, 12.9, 13]
    assert profile.readings("warn me below twelve point three volts".split()) == [("alarm", {"volts": 12.3})]


def test_a_decimal_that_the_signal_can_carry_is_sent_exactly(tmp_path):
    """0.5-degree steps in a 0.5-scaled signal: 21.5 is raw 43 (0x2B), never rounded from a float sum."""
    profile = load_profile(CAMPER)
    [frame] = plan_actions(profile, profile.intents["heater_setpoint"], {"degrees": 21.5})
    assert frame.data == bytes([0x2B, 0x02])


def test_a_whole_default_matches_a_decimal_slot(tmp_path):
    folder = _camper_with(tmp_path, "range = [5, 30]\nstep = 0.5")
    heater = folder / "heater.toml"
    heater.write_text(
        heater.read_text().replace(
            '  "<please> heat the van to {degrees} [degrees] <please>",\n]',
            '  "<please> heat the van to {degrees} [degrees] <please>",\n  "<please> heat the van <please>",\n]\n'
            "defaults = { degrees = 20.0 }",
        )
    )
    profile = load_profile(folder)
    assert profile.readings("heat the van".split()) == [("heater_setpoint", {"degrees": 20})]
