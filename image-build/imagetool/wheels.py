"""Install wheels into the image's venv natively (on the build host), without pip under qemu.

A wheel (the binary distribution format, PyPA specification) is a zip archive: its root goes to
site-packages, `<name>-<version>.data/{purelib,platlib}` to site-packages too, `.data/scripts` to
the venv's bin/ (a `#!python` first line becomes the venv's interpreter), `.data/data` to the
venv prefix and `.data/headers` to `include/site/pythonX.Y/<name>`. Console and GUI scripts of
`entry_points.txt` become small launchers in bin/. RECORD is rewritten to list every installed
file with its sha256 and size, INSTALLER names this tool.

Each wheel is installed into its own staging tree laid out like the venv prefix (`lib/...`,
`bin/...`), so one staged and compiled wheel can be cached by its sha256 and merged into any
later image. Nothing here runs arm64 code: the `.pyc` files are compiled afterwards by the
image's own Python (compile_staged), which is what makes them valid for Python 3.13.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import io
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from imagetool.shell import ImageError

INSTALLER = "branchwatch-imagetool\n"
_SCRIPT_SHEBANG = re.compile(rb"^#!python(w?)(\s|$)")
_ENTRY = re.compile(r"^(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+))?\s*(\[.*\])?\s*$")


@dataclass(frozen=True)
class Venv:
    """Where the venv lives in the image and which Python runs it."""

    prefix: PurePosixPath  # e.g. /opt/branchwatch/venv
    python_version: str  # e.g. 3.13

    @property
    def site_packages(self) -> PurePosixPath:
        return PurePosixPath("lib") / f"python{self.python_version}" / "site-packages"

    @property
    def interpreter(self) -> PurePosixPath:
        return self.prefix / "bin" / "python"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def dist_info_name(wheel: zipfile.ZipFile) -> str:
    """The `<name>-<version>.dist-info` directory of a wheel (exactly one, at the top)."""
    tops = {PurePosixPath(n).parts[0] for n in wheel.namelist() if "/" in n}
    found = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(found) != 1:
        raise ImageError(f"{wheel.filename}: expected one .dist-info directory, found {found}")
    return found[0]


def _target(name: str, data_dir: str, venv: Venv, dist: str) -> PurePosixPath | None:
    """Where a wheel member goes, relative to the venv prefix (None: a directory entry)."""
    if name.endswith("/"):
        return None
    path = PurePosixPath(name)
    if ".." in path.parts or path.is_absolute():
        raise ImageError(f"unsafe path in wheel: {name}")
    if path.parts[0] != data_dir:
        return venv.site_packages / path
    if len(path.parts) < 3:
        raise ImageError(f"unexpected member of the wheel's .data directory: {name}")
    scheme, rest = path.parts[1], PurePosixPath(*path.parts[2:])
    if scheme in ("purelib", "platlib"):
        return venv.site_packages / rest
    if scheme == "scripts":
        return PurePosixPath("bin") / rest
    if scheme == "data":
        return rest
    if scheme == "headers":
        project = dist.split("-", 1)[0]
        return PurePosixPath("include/site") / f"python{venv.python_version}" / project / rest
    raise ImageError(f"unknown wheel data scheme {scheme!r} in {name}")


def _launcher(venv: Venv, module: str, attr: str) -> bytes:
    head, _, tail = attr.partition(".")
    call = head + (f".{tail}" if tail else "")
    return (
        f"#!{venv.interpreter}\n"
        "import sys\n"
        f"from {module} import {head}\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n"
        f"    sys.exit({call}())\n"
    ).encode()


def _entry_point_scripts(text: str, venv: Venv) -> dict[str, bytes]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    scripts: dict[str, bytes] = {}
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for name, value in parser.items(section):
            match = _ENTRY.match(value)
            if not match or not match["attr"]:
                raise ImageError(f"entry point {name} = {value!r}: not module:attr")
            scripts[name] = _launcher(venv, match["module"], match["attr"])
    return scripts


def _write(stage: Path, rel: PurePosixPath, data: bytes, executable: bool) -> None:
    path = stage / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o755 if executable else 0o644)


def install_wheel(wheel_path: Path, stage: Path, venv: Venv) -> list[PurePosixPath]:
    """Install one wheel into `stage` (laid out like the venv prefix); returns the files written.

    Directory modes are 0755, files 0644 or 0755 (any execute bit in the zip entry, and every
    script), so the result does not depend on the build host's umask.
    """
    written: dict[PurePosixPath, bytes] = {}
    executable: set[PurePosixPath] = set()
    with zipfile.ZipFile(wheel_path) as wheel:
        dist = dist_info_name(wheel)
        data_dir = dist.removesuffix(".dist-info") + ".data"
        for info in wheel.infolist():
            rel = _target(info.filename, data_dir, venv, dist)
            if rel is None or PurePosixPath(info.filename).name == "RECORD":
                continue
            data = wheel.read(info)
            is_script = rel.parts[0] == "bin"
            if is_script:
                data = _SCRIPT_SHEBANG.sub(f"#!{venv.interpreter}\\2".encode(), data, count=1)
            if is_script or (info.external_attr >> 16) & 0o111:
                executable.add(rel)
            written[rel] = data
        entry_points = venv.site_packages / dist / "entry_points.txt"
        if entry_points in written:
            for name, script in _entry_point_scripts(written[entry_points].decode(), venv).items():
                written[PurePosixPath("bin") / name] = script
                executable.add(PurePosixPath("bin") / name)
        written[venv.site_packages / dist / "INSTALLER"] = INSTALLER.encode()
    for rel, data in sorted(written.items()):
        _write(stage, rel, data, rel in executable)
    record = venv.site_packages / dist / "RECORD"
    _write(stage, record, _record(written, record, venv), False)
    for dirpath, _, _ in os.walk(stage):
        os.chmod(dirpath, 0o755)
    return sorted([*written, record])


def _record(written: dict[PurePosixPath, bytes], record: PurePosixPath, venv: Venv) -> bytes:
    """RECORD text: paths relative to site-packages, sha256 and size; RECORD itself unhashed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for rel, data in sorted(written.items()):
        writer.writerow([os.path.relpath(rel, venv.site_packages), _record_hash(data), len(data)])
    writer.writerow([os.path.relpath(record, venv.site_packages), "", ""])
    return out.getvalue().encode()


def merge(stage: Path, prefix_dir: Path) -> None:
    """Copy a staged (and compiled) wheel into the venv directory of an image tree.

    Fails when a file already exists (two wheels claiming the same path); directories are shared.
    """
    for dirpath, dirnames, filenames in os.walk(stage):
        rel = Path(dirpath).relative_to(stage)
        dest_dir = prefix_dir / rel
        dest_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        for name in filenames:
            src, dest = Path(dirpath) / name, dest_dir / name
            if dest.exists() or dest.is_symlink():
                raise ImageError(f"{dest}: installed by two wheels")
            shutil.copy2(src, dest, follow_symlinks=False)
        dirnames.sort()
