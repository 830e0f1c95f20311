"""scripts/install-unit --root on a fresh debootstrap root: a complete head unit, and nothing more to do
on a second run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.unit_roots import DOWNLOADS, ROOT, allowed_signers, fresh_root, needs_root, unit_files_in_place

INSTALL_UNIT = ROOT / "scripts" / "install-unit"


def install_unit(root: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(INSTALL_UNIT), "--root", str(root), "--cache", str(DOWNLOADS), *options],
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_install_unit_makes_a_debootstrap_root_a_unit_and_a_second_run_changes_nothing(tmp_path):
    needs_root()
    signers = allowed_signers(tmp_path)
    hat = ("--can-oscillator", "16000000", "--can-interrupt", "24")
    with fresh_root(tmp_path) as root:
        first = install_unit(root, "--allowed-signers", str(signers), *hat)
        assert first.returncode == 0, first.stdout + first.stderr
        said = first.stdout
        for change in ("installed Debian packages", "built /opt/carvoice/.venv", "carvoice.service", "system user"):
            assert change in said, said
        unit_files_in_place(root)
        assert (root / "etc/carvoice/allowed_signers").read_text() == signers.read_text()
        boot = (root / "boot/firmware/config.txt").read_text()
        assert "dtoverlay=mcp2515-can0,oscillator=16000000,interrupt=24," in boot and "\n[all]\n" in boot

        again = install_unit(root, "--allowed-signers", str(signers), *hat)
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")

        # what a second run does put right: a file changed by hand, an option changed
        agent = root / "opt/carvoice/carvoice/agent.py"
        agent.write_text(agent.read_text() + "# edited on the unit\n")
        mended = install_unit(root, "--allowed-signers", str(signers), "--no-can-hat")
        assert mended.returncode == 0, mended.stderr
        assert mended.stdout.splitlines() == [
            "install-unit: copied 1 file to /opt/carvoice",
            "install-unit: removed the CAN HAT overlay from /boot/firmware/config.txt",
        ]
        assert agent.read_text() == (ROOT / "carvoice/agent.py").read_text()
        assert "mcp2515" not in (root / "boot/firmware/config.txt").read_text()


def test_install_unit_refuses_without_keys_or_with_a_bad_key_file(tmp_path):
    needs_root()
    bad = tmp_path / "signers"
    bad.write_text("installer@workshop not-a-key\n")
    for options, complaint in (
        ((), "--allowed-signers FILE"),
        (("--allowed-signers", str(bad)), "PRINCIPAL [OPTIONS] KEYTYPE KEY"),
        (("--allowed-signers", str(allowed_signers(tmp_path)), "--can-interrupt", "40"), "GPIO number"),
    ):
        done = install_unit(tmp_path, *options)
        assert done.returncode != 0 and complaint in done.stderr and done.stdout == "", done.stderr
