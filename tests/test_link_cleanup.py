"""A vehicle link that fails half way closes what it had opened."""

import gc
import logging

import pytest

from carvoice.check import load_profile
from carvoice.profile.loader import default_profile_dir
from carvoice.vehicle.link import VehicleLink


def test_a_can_log_that_cannot_be_written_leaves_no_bus_open(caplog, tmp_path):
    caplog.set_level(logging.WARNING, logger="can")
    with pytest.raises(FileNotFoundError):
        VehicleLink(load_profile(default_profile_dir()), "virtual", "link-cleanup", tmp_path / "no" / "log.asc")
    gc.collect()  # python-can warns when a bus it never shut down is collected
    assert not [r for r in caplog.records if "not properly shut down" in r.getMessage()]
