"""imagetool.wheels: a wheel installed natively lands where the wheel format says it goes.

The synthetic wheel follows the binary distribution format specification (PyPA): root files go
to site-packages, `.data/{purelib,platlib}` too, `.data/scripts` to bin/ with `#!python`
rewritten, `.data/data` to the prefix, console scripts from entry_points.txt become launchers,
and RECORD lists `path,sha256=<urlsafe b64, unpadded>,size`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from imagetool.shell import ImageError
from imagetool.wheels import Venv, install_wheel, merge

VENV = Venv(PurePosixPath("/opt/bw/venv"), "3.13")
SITE = Path("lib/python3.13/site-packages")


def make_wheel(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    members: dict[str, bytes] = {
        "demo/__init__.py": b"def main():\n    print('demo main ran')\n    return 0\n",
        "demo/tool.sh": b"#!/bin/sh\necho tool\n",
        "demo-1.0.data/scripts/legacy": b"#!python\nprint('legacy')\n",
        "demo-1.0.data/purelib/demo_extra.py": b"X = 1\n",
        "demo-1.0.data/data/share/demo/readme.txt": b"shared data\n",
        "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        "demo-1.0.dist-info/entry_points.txt": b"[console_scripts]\ndemo-cli = demo:main\n",
        "demo-1.0.dist-info/RECORD": b"stale,,\n",
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name.endswith(".sh"):
                info.external_attr = 0o100755 << 16
            zf.writestr(info, data)
    return path


def test_members_land_where_the_wheel_format_puts_them(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    install_wheel(make_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), stage, VENV)
    assert (stage / SITE / "demo/__init__.py").read_bytes().startswith(b"def main")
    assert (stage / SITE / "demo_extra.py").read_bytes() == b"X = 1\n"
    assert (stage / "share/demo/readme.txt").read_bytes() == b"shared data\n"
    assert (stage / "bin/legacy").read_bytes() == b"#!/opt/bw/venv/bin/python\nprint('legacy')\n"
    assert not (stage / SITE / "demo-1.0.data").exists()
    assert (stage / SITE / "demo-1.0.dist-info/INSTALLER").is_file()


def test_modes_follow_the_zip_execute_bits_not_the_umask(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    install_wheel(make_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), stage, VENV)
    assert (stage / SITE / "demo/tool.sh").stat().st_mode & 0o777 == 0o755
    assert (stage / SITE / "demo/__init__.py").stat().st_mode & 0o777 == 0o644
    assert (stage / "bin/demo-cli").stat().st_mode & 0o777 == 0o755
    assert (stage / SITE / "demo").stat().st_mode & 0o777 == 0o755


def test_console_script_launcher_calls_the_entry_point(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    install_wheel(make_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), stage, VENV)
    launcher = stage / "bin/demo-cli"
    assert launcher.read_text().splitlines()[0] == "#!/opt/bw/venv/bin/python"
    done = subprocess.run(
        [sys.executable, str(launcher)],
        env={"PYTHONPATH": str(stage / SITE)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "demo main ran\n")


def test_record_lists_every_installed_file_with_its_hash_and_size(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    install_wheel(make_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), stage, VENV)
    record = stage / SITE / "demo-1.0.dist-info/RECORD"
    rows = list(csv.reader(record.read_text().splitlines()))
    listed = {(stage / SITE / row[0]).resolve() for row in rows}
    on_disk = {p.resolve() for p in stage.rglob("*") if p.is_file()}
    assert listed == on_disk
    for path, digest, size in rows:
        if path.endswith("RECORD"):
            assert (digest, size) == ("", "")
            continue
        data = (stage / SITE / path).read_bytes()
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={expected}", len(data))


def test_same_wheel_installs_byte_identical(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl")
    a, b = tmp_path / "a", tmp_path / "b"
    install_wheel(wheel, a, VENV)
    install_wheel(wheel, b, VENV)
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert files_a == files_b


def test_path_escaping_the_prefix_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl", {"../../etc/evil": b"x"})
    with pytest.raises(ImageError, match="unsafe path"):
        install_wheel(wheel, tmp_path / "stage", VENV)


def test_merge_refuses_two_wheels_writing_the_same_file(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl")
    install_wheel(wheel, tmp_path / "one", VENV)
    venv = tmp_path / "venv"
    merge(tmp_path / "one", venv)
    assert (venv / SITE / "demo/__init__.py").is_file()
    with pytest.raises(ImageError, match="installed by two wheels"):
        merge(tmp_path / "one", venv)
