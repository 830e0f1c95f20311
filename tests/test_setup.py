"""scripts/setup on a machine where pip cannot install: it fails loudly and tries again next time."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup"


def _runtime_packages_missing() -> list[str]:
    text = SETUP.read_text()
    listed = re.search(r"packages=\(([^)]*)\)", text)
    assert listed is not None
    missing = []
    for package in listed.group(1).split():
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        ).stdout
        if "install ok installed" not in status:
            missing.append(package)
    return missing


@needs("dpkg-query", "sha256sum")
def test_a_failed_pip_install_fails_the_setup_and_is_retried(tmp_path):
    missing = _runtime_packages_missing()
    if missing:
        pytest.skip(f"the setup would install Debian packages first: {', '.join(missing)}")
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "carvoice").mkdir()
    shutil.copy(SETUP, project / "scripts" / "setup")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    (project / "carvoice" / "__init__.py").write_text("")
    # pip with nowhere to get packages from: as offline as a fresh machine without a network.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "VIRTUAL_ENV"}
    env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    for attempt in (1, 2):
        done = subprocess.run(
            [str(project / "scripts" / "setup")], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode != 0, (attempt, done.stdout, done.stderr)
        assert "carvoice setup: installing carvoice into .venv" in done.stdout, (attempt, done.stdout)
        assert "nothing was marked as installed, so running it again retries" in done.stderr
        assert not list((project / ".venv").glob(".carvoice-installed*")), attempt
