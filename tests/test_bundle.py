"""Profile bundles on a unit folder: real ssh-keygen signatures, real files, fsync and renames, a real daemon."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from carvoice.bundle import BundleError, archive, disk, signing
from carvoice.bundle.install import build, install, rollback
from carvoice.bundle.manifest import Manifest, sha256
from carvoice.bundle.unit import Unit
from carvoice.check import load_profile
from carvoice.cli import main
from carvoice.profile.loader import files_digest, profile_digest
from tests.bundles import (
    SMALL,
    allowed_signers,
    bundle_of,
    profile_version,
    ssh_key,
    start_daemon,
    status_of,
    wait_for,
)
from tests.hostile import GIB, PeakMemory, big_header_bundle, entries_bundle, many_folders_bundle, tar_header


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return ssh_key(folder / "installer", "installer"), ssh_key(folder / "stranger", "stranger")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, keys):
    """v1 and v2 signed by the installer, v3 signed by a key the unit does not know."""
    folder = tmp_path_factory.mktemp("bundles")
    installer, stranger = keys
    return {
        "v1": bundle_of(folder, "Car one", "1", installer),
        "v2": bundle_of(folder, "Car two", "2", installer),
        "stranger": bundle_of(folder, "Car three", "3", stranger),
        "unsigned": bundle_of(folder, "Car four", "4"),
    }


def active_digest(unit: Unit) -> str:
    """What the daemon would run after a restart: the profile behind the link, fully loaded."""
    load_profile(unit.active)
    return profile_digest(unit.active.resolve())


def unit_with_v1(tmp_path: Path, keys, bundles) -> Unit:
    unit = Unit(tmp_path / "root", tmp_path / "run")
    allowed_signers(unit.allowed_signers, "installer@workshop", keys[0])
    install(bundles["v1"], unit)
    return unit


def digest_of(bundle: Path) -> str:
    return archive.read(archive.open_envelope(bundle)).manifest.profile_digest


def test_build_install_list_rollback_through_the_cli(tmp_path, keys, bundles, capsys):
    root = tmp_path / "root"
    allowed_signers(root / "etc/carvoice/allowed_signers", "installer@workshop", keys[0])
    unit = Unit(root, tmp_path / "run")
    out = tmp_path / "car.cvb"
    assert main(["bundle", "build", str(tmp_path.parent), "-o", str(out)]) == 1  # not a profile: refused
    assert not out.exists()
    profile = bundles["v1"].parent / "src-Car one-1"
    assert main(["bundle", "build", str(profile), "-o", str(out), "--version", "1.0", "--sign", str(keys[0])]) == 0
    run = ["--root", str(root), "--runtime-dir", str(tmp_path / "run")]
    for bundle in (out, bundles["v2"]):
        assert main(["bundle", "install", str(bundle), *run]) == 0
    assert "signed by installer@workshop" in capsys.readouterr().out
    assert active_digest(unit) == digest_of(bundles["v2"])
    assert main(["bundle", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line[0] for line in listing] == ["-", "*"] and "Car one 1.0" in listing[0] and "Car two 2" in listing[1]
    assert main(["bundle", "rollback", *run]) == 0
    assert active_digest(unit) == digest_of(out)
    capsys.readouterr()
    main(["bundle", "list", "--root", str(root)])
    assert [line[0] for line in capsys.readouterr().out.splitlines()] == ["*", "-"]
    # the links are relative: the unit folder still works after it is moved (as an image becomes /)
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    assert profile_digest((moved / "etc/carvoice/profile").resolve()) == digest_of(out)


def test_unknown_signer_unsigned_and_tampered_bundles_are_refused(tmp_path, keys, bundles):
    unit = unit_with_v1(tmp_path, keys, bundles)
    old = active_digest(unit)

    with pytest.raises(BundleError, match=r"signed by a key that is not in .*allowed_signers"):
        install(bundles["stranger"], unit)
    with pytest.raises(BundleError, match=r"not signed, and this unit accepts only bundles signed by a key in"):
        install(bundles["unsigned"], unit)

    # a file changed after signing: the signature over the bundle's bytes no longer matches
    tampered = tmp_path / "tampered.cvb"
    rewrite(bundles["v2"], tampered, {"profile/body.toml": lambda data: data.replace(b"window", b"sunroof", 1)})
    with pytest.raises(BundleError, match=r"tampered.cvb: refused: the signature does not match the bundle"):
        install(tampered, unit)
    # on a workbench without signatures the manifest's hashes still catch it
    workbench = Unit(tmp_path / "workbench", tmp_path / "workbench-run")
    with pytest.raises(
        BundleError,
        match=r"tampered.cvb: refused, the bundle was changed after it was built: "
        r"profile/body.toml does not match its sha256",
    ):
        install(tampered, workbench, allow_unsigned=True)

    # the file and its hash in the manifest changed together: the signature no longer matches
    forged = tmp_path / "forged.cvb"
    body = read_member(bundles["v2"], "profile/body.toml")
    changed = body.replace(b"window", b"sunroof", 1)
    rewrite(
        bundles["v2"],
        forged,
        {
            "profile/body.toml": lambda data: changed,
            "manifest.json": lambda data: data.replace(
                hashlib.sha256(body).hexdigest().encode(), hashlib.sha256(changed).hexdigest().encode()
            ),
        },
    )
    with pytest.raises(BundleError, match=r"forged.cvb: refused: the signature does not match the bundle"):
        install(forged, unit)

    # a member outside profile/ (a path that would escape the folder) is refused before anything is written
    escaping = tmp_path / "escaping.cvb"
    rewrite(bundles["v2"], escaping, {}, extra={"../../etc/passwd": b"x"}, key=keys[0])  # a trusted, broken tool
    with pytest.raises(BundleError, match=r"would be written outside the profile folder"):
        install(escaping, unit)

    assert active_digest(unit) == old
    assert [p.name for p in unit.profiles.iterdir()] == [unit.active.resolve().parent.name]  # nothing left behind


def test_a_profile_that_does_not_load_is_refused_and_not_left_behind(tmp_path, keys, bundles):
    unit = unit_with_v1(tmp_path, keys, bundles)
    old = active_digest(unit)
    files = archive.profile_files(bundles["v2"].parent / "src-Car two-2")
    files["body.toml"] = files["body.toml"].replace(b'can = "BODY_WINDOW_CMD"', b'can = "NO_SUCH_MESSAGE"')
    manifest = Manifest("Broken car", "9", "now", files_digest(files), {n: sha256(d) for n, d in files.items()})
    broken = tmp_path / "broken.cvb"
    # signed, but built without `bundle build`'s check, as a broken tool might
    payload = archive.payload_of(manifest, files)
    archive.pack(broken, payload, signing.sign(payload, keys[0]))
    with pytest.raises(
        BundleError,
        match=r"(?s)broken.cvb: refused, the profile would not load on this unit:\n"
        r".*body.toml.*NO_SUCH_MESSAGE",
    ):
        install(broken, unit)
    assert active_digest(unit) == old
    assert len([p for p in unit.profiles.iterdir()]) == 1


class PowerCut(BaseException):
    """Not an Exception: no handler in the install may catch it, as nothing runs after a real power cut."""


# Every call that changes the filesystem; reading (load_profile, the bundle) goes on as usual.
MUTATING = ("write", "fsync", "rename", "replace", "symlink", "mkdir", "unlink", "rmdir", "remove", "truncate")


class Power:
    """Cuts the power before the (k+1)-th change to the filesystem: that change and every later one fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
        self.left = steps
        self.done: list[str] = []
        for name in MUTATING:
            monkeypatch.setattr(os, name, self._guard(name, getattr(os, name)))
        real_open = os.open

        def guarded_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
                self._step(f"open {path}")
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded_open)

    def _step(self, label: str) -> None:
        if self.left <= 0:
            raise PowerCut(label)
        self.left -= 1
        self.done.append(label)

    def _guard(self, name: str, real):
        def guarded(*args, **kwargs):
            self._step(f"{name} {args[0] if args else ''}")
            return real(*args, **kwargs)

        return guarded


@pytest.mark.parametrize("operation", ["install", "rollback"])
def test_power_cut_at_every_step_leaves_the_old_or_the_new_profile(tmp_path, operation):
    # a profile and its DBC, unsigned: signatures are checked before the first write to the unit
    v0, v1, v2 = (bundle_of(tmp_path, f"Small car {n}", n, source=SMALL) for n in ("0", "1", "2"))
    template = Unit(tmp_path / "template", tmp_path / "run")
    install(v0, template, allow_unsigned=True)  # a workbench unit: no allowed_signers
    install(v1, template, allow_unsigned=True)  # with keep=2, installing v2 also removes v0: those steps are cut too
    if operation == "rollback":
        install(v2, template, allow_unsigned=True)
    before = active_digest(template)
    after = digest_of(v2) if operation == "install" else digest_of(v1)
    seen, step = [], 0
    while True:
        root = tmp_path / f"cut-{step}"
        shutil.copytree(template.root, root, symlinks=True)
        unit = Unit(root, tmp_path / "run")
        with pytest.MonkeyPatch.context() as patch:
            power = Power(patch, step)
            try:
                install(v2, unit, keep=2, allow_unsigned=True) if operation == "install" else rollback(unit)
                finished = True
            except PowerCut:
                finished = False
        # after the cut: what the daemon loads on the next boot is complete, and old or new
        digest = active_digest(unit)
        assert digest in (before, after), f"cut after {power.done[-1:]}: unknown profile"
        seen.append(digest)
        # and the next attempt (after the reboot) completes from whatever was left
        if operation == "install":
            install(v2, unit, keep=2, allow_unsigned=True)
        else:
            if digest == before:
                rollback(unit)
        assert profile_digest(unit.active.resolve()) == after
        assert not [p for p in unit.profiles.iterdir() if p.name.startswith(".")], "staging left behind"
        if finished:
            break
        shutil.rmtree(root)
        step += 1
    assert step >= (20 if operation == "install" else 4), power.done  # every write, fsync and rename was cut
    if operation == "install":
        assert not any(p.name.startswith("small-car-0-") for p in unit.profiles.iterdir())
    flips = [i for i in range(1, len(seen)) if seen[i] != seen[i - 1]]
    assert seen[0] == before and seen[-1] == after and len(flips) == 1  # old ... old, new ... new


def test_install_reloads_the_daemon_and_rolls_back_when_it_does_not_confirm(tmp_path, keys, bundles):
    unit = unit_with_v1(tmp_path, keys, bundles)
    daemon = start_daemon(tmp_path, unit.active, unit.runtime_dir)
    try:
        assert status_of(unit.runtime_dir)["profile_digest"] == digest_of(bundles["v1"])
        install(bundles["v2"], unit, timeout=20)
        assert status_of(unit.runtime_dir)["profile_digest"] == digest_of(bundles["v2"])

        # power lost after a switch, before the reload: the link is on v1 and the daemon still runs v2;
        # installing v1 again (it is "already active") brings the daemon to it
        first = next(p for p in unit.profiles.iterdir() if p.name.startswith("car-one-1-"))
        disk.point(unit.active, unit.link_target(first.name))
        install(bundles["v1"], unit, timeout=20)
        assert status_of(unit.runtime_dir)["profile_digest"] == digest_of(bundles["v1"])
        install(bundles["v2"], unit, timeout=20)

        # a daemon that does not come up with the new profile in time: the install switches back
        third = bundle_of(tmp_path, "Car five", "5", keys[0])
        daemon.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(BundleError, match=r"Car five 5 did not come up \(no answer after 1 s.*rolled back to"):
                install(third, unit, timeout=1)
            assert active_digest(unit) == digest_of(bundles["v2"])
        finally:
            daemon.send_signal(signal.SIGCONT)
        # the daemon, woken, reloads and runs the profile the link points at again: the old one
        wait_for(
            lambda: (
                (s := status_of(unit.runtime_dir))
                and s["profile_digest"] == digest_of(bundles["v2"])
                and s["since"] > 0
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "carvoice", "bundle", "list", "--root", str(unit.root)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert [line[0] for line in result.stdout.splitlines()] == [" ", "-", "*"]  # five, one, two
    finally:
        daemon.kill()
        daemon.wait()


def members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The payload's tar members of a bundle, read with the standard library (the bundle is ours)."""
    with archive.open_envelope(bundle).payload() as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
        return [(member, tar.extractfile(member).read()) for member in tar]


def read_member(bundle: Path, name: str) -> bytes:
    return next(data for member, data in members(bundle) if member.name == name)


def rewrite(source: Path, target: Path, changes: dict, extra: dict | None = None, key: Path | None = None) -> None:
    """A copy of a bundle with some members changed, as someone editing it by hand would make; it keeps
    the old signature (which no longer fits), or is signed again with `key`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as new:
        for member, data in members(source):
            if member.name in changes:
                data = changes[member.name](data)
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    payload = buffer.getvalue()
    archive.pack(target, payload, signing.sign(payload, key) if key else archive.open_envelope(source).signature)


def test_versions_changed_on_the_unit_are_unpacked_again_and_old_ones_pruned(tmp_path, keys, bundles):
    unit = unit_with_v1(tmp_path, keys, bundles)
    install(bundles["v2"], unit)
    first = next(p for p in unit.profiles.iterdir() if p.name.startswith("car-one-1-"))
    (first / "profile" / "body.toml").write_text("# edited by hand on the unit\n")
    install(bundles["v1"], unit, allow_downgrade=True)  # the edited copy is replaced by the bundle's files
    assert active_digest(unit) == digest_of(bundles["v1"])

    active = unit.active.resolve()
    (active / "general.toml").write_text("# edited by hand on the unit\n")
    with pytest.raises(BundleError, match=r"the active profile's files were changed on the unit"):
        install(bundles["v1"], unit)

    install(bundles["v2"], unit, keep=2)
    third = bundle_of(tmp_path, "Car five", "5", keys[0])
    install(third, unit, keep=2)  # car-one (neither active nor previous) goes
    names = sorted(p.name.split("-")[1] for p in unit.profiles.iterdir())
    assert names == ["five", "two"]


def test_an_older_signed_version_does_not_install_over_a_newer_one(tmp_path, keys, capsys):
    """The downgrade attack: the demo car 1.4 opened the trunk while driving (no rule); 1.5 fixed it."""
    unsafe = profile_version(tmp_path / "src-1.4", "Demo car")
    body = unsafe / "body.toml"
    body.write_text("\n".join(line for line in body.read_text().splitlines() if not line.startswith("allow_when")))
    old = tmp_path / "demo-1.4.cvb"
    build(unsafe, old, "1.4", keys[0])
    new = bundle_of(tmp_path, "Demo car", "1.5", keys[0])
    unit = Unit(tmp_path / "root", tmp_path / "run")
    allowed_signers(unit.allowed_signers, "installer@workshop", keys[0])
    install(new, unit)
    fixed = active_digest(unit)
    older = r"Demo car 1\.4 is older than the active Demo car 1\.5.*rollback.*--allow-downgrade"
    with pytest.raises(BundleError, match=older):
        install(old, unit)
    assert active_digest(unit) == fixed
    install(new, unit)  # the same version again: nothing changes, and it succeeds (flashing stays idempotent)
    assert active_digest(unit) == fixed and len(list(unit.profiles.iterdir())) == 1
    (tmp_path / "other").mkdir()
    other = bundle_of(tmp_path / "other", "Demo car", "1.5", keys[0], source=SMALL)
    with pytest.raises(BundleError, match=r"version 1\.5 is already installed with other files"):
        install(other, unit)
    # going back is a deliberate act of the unit's root: a flag that says so
    run = ["--root", str(unit.root), "--runtime-dir", str(unit.runtime_dir)]
    assert main(["bundle", "install", str(old), *run]) == 1
    assert main(["bundle", "install", str(old), *run, "--allow-downgrade"]) == 0
    assert "downgrading from Demo car 1.5 to 1.4" in capsys.readouterr().out
    assert active_digest(unit) == digest_of(old)


def test_the_signature_is_checked_before_anything_is_parsed(tmp_path, keys):
    """A 1 GiB pax header in a 1 MB file, unsigned or signed by a stranger: refused on the signature alone."""
    unit = Unit(tmp_path / "root", tmp_path / "run")
    allowed_signers(unit.allowed_signers, "installer@workshop", keys[0])
    bomb = big_header_bundle(tmp_path / "bomb.cvb")
    with archive.open_envelope(bomb).payload() as raw:
        payload = raw.read()
    stranger = tmp_path / "stranger-bomb.cvb"
    archive.pack(stranger, payload, signing.sign(payload, keys[1]))
    garbage = tmp_path / "garbage.cvb"
    archive.pack(garbage, b"\x1f\x8b not gzip at all", signing.sign(b"other bytes", keys[0]))
    with PeakMemory() as memory:
        with pytest.raises(BundleError, match="refused: not signed"):
            install(bomb, unit)
        with pytest.raises(BundleError, match="signed by a key that is not in"):
            install(stranger, unit)
        with pytest.raises(BundleError, match="the signature does not match the bundle"):
            install(garbage, unit)  # not "not a readable bundle": it was never read
    assert memory.bytes < 100 * 2**20, memory


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: big_header_bundle(path, b"x", GIB), "a 1073741824-byte tar header"),
        (lambda path: big_header_bundle(path, b"L", 64 * 2**20), "a 67108864-byte tar header"),
        (lambda path: many_folders_bundle(path, 20_000), "more than 1000 entries"),
        (lambda path: big_header_bundle(path, b"5", GIB), "the folder entry 'profile/' claims 1073741824 bytes"),
    ],
    ids=["1 GiB pax header", "64 MiB GNU long name", "20,000 folders", "a folder holding 1 GiB"],
)
def test_archive_bombs_are_refused_while_streaming(tmp_path, make, says):
    """On a workbench (--allow-unsigned) the bundle is read, and its limits hold as it is read:
    scripts/hostile-costs runs the full-size bombs (a 1 GiB long name, 2 million folders)."""
    bomb = make(tmp_path / "bomb.cvb")
    unit = Unit(tmp_path / "root", tmp_path / "run")
    with PeakMemory() as memory, pytest.raises(BundleError, match=f"refused: {says}"):
        install(bomb, unit, allow_unsigned=True)
    assert memory.bytes < 100 * 2**20, memory
    assert not unit.profiles.exists() or not list(unit.profiles.iterdir())


def _damaged_checksum(path: Path) -> Path:
    header = bytearray(tar_header(b"manifest.json", 0, b"0"))
    header[148:156] = b"zzzzzz\0 "  # not octal
    return entries_bundle(path, bytes(header))


def _nested_manifest(path: Path) -> Path:
    deep = b"[" * 100_000
    return entries_bundle(path, tar_header(b"manifest.json", len(deep), b"0"), deep, bytes(-len(deep) % 512))


def _nul_in_a_name(path: Path) -> Path:
    """A pax path with a NUL, listed in a manifest whose hashes and digest all fit."""
    name, data = "a\0b.toml", b"x"
    manifest = Manifest("Car", "1", "now", files_digest({name: data}), {name: sha256(data)}).to_bytes()
    record = f"path=profile/{name}\n".encode()
    record = b"%d " % (len(record) + 3) + record  # the length counts itself: 2 digits and a space

    def padded(data: bytes) -> bytes:
        return data + bytes(-len(data) % 512)

    return entries_bundle(
        path,
        tar_header(b"manifest.json", len(manifest), b"0"),
        padded(manifest),
        tar_header(b"././@PaxHeader", len(record), b"x"),
        padded(record),
        tar_header(b"profile/placeholder", len(data), b"0"),
        padded(data),
    )


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_damaged_checksum, "not a readable bundle: a damaged tar header"),
        (_nul_in_a_name, "refused: 'profile/a\\x00b.toml' has a control character in its name"),
        (_nested_manifest, "manifest.json is not JSON: maximum recursion depth"),
    ],
)
def test_a_malformed_bundle_is_a_one_line_refusal(tmp_path, capsys, make, says):
    """A workbench (--allow-unsigned) reads what anyone made: damage is refused, never a traceback."""
    bundle = make(tmp_path / "bad.cvb")
    unit = ["--root", str(tmp_path / "root"), "--runtime-dir", str(tmp_path / "run"), "--allow-unsigned"]
    assert main(["bundle", "install", str(bundle), *unit]) == 1
    err = capsys.readouterr().err
    assert f"bad.cvb: {says}" in err and "Traceback" not in err
    assert not Unit(tmp_path / "root", tmp_path / "run").profiles.exists()


def _folder(path: Path) -> None:
    path.mkdir()


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "no-such-file")


def _empty(path: Path) -> None:
    path.write_text("")


def _comments(path: Path) -> None:
    path.write_text("# installer@workshop: key to come\n\n")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("breakage", [_folder, _dangling, _empty, _comments, _fifo])
def test_a_broken_allowed_signers_refuses_everything(tmp_path, keys, bundles, breakage):
    unit = Unit(tmp_path / "root", tmp_path / "run")
    unit.etc.mkdir(parents=True)
    breakage(unit.allowed_signers)
    for bundle in (bundles["unsigned"], bundles["v1"]):
        with pytest.raises(BundleError, match="every bundle is refused until it lists the installers' keys"):
            install(bundle, unit, allow_unsigned=True)
    assert not unit.profiles.exists()  # refused before the unit was touched


def test_without_allowed_signers_only_a_workbench_installs(tmp_path, bundles):
    unit = Unit(tmp_path / "root", tmp_path / "run")
    for bundle in (bundles["unsigned"], bundles["v1"]):
        with pytest.raises(BundleError, match=r"has no .*allowed_signers.*--allow-unsigned"):
            install(bundle, unit)
    install(bundles["unsigned"], unit, allow_unsigned=True)
    assert active_digest(unit) == digest_of(bundles["unsigned"])
