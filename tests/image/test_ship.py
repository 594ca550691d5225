"""Manifest, personalisation and packing of a synthetic image."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from imagetool.contents import fat_paths
from imagetool.layout import boot_and_root
from imagetool.manifest import manifest
from imagetool.pack import block_map, compress, data_ranges, pack
from imagetool.personalise import personalise
from imagetool.shell import ImageError
from imagetool.verify import verify

from tests.conftest import require
from tests.image.synthetic import CONFIG_TXT, SMALL, build, copy_image

BUNDLE = '''\
site = "branch-017"
sensor_id = "bw-017-a"
broker = "mqtts://collector.example.net:8883"
token = "enrol-0123456789"
ca_cert = """-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----
"""
enrol_cert = """-----BEGIN CERTIFICATE-----
MIIC
-----END CERTIFICATE-----
"""
enrol_key = """-----BEGIN PRIVATE KEY-----
MIID
-----END PRIVATE KEY-----
"""
capture_interface = "eth0"

[uplink]
interface = "wlan0"
wifi_ssid = "branch"
wifi_psk = "correct horse"
'''


def test_manifest_lists_modes_owners_sizes_and_hashes_from_the_image(generic_image: Path) -> None:
    lines = manifest(generic_image).splitlines()
    assert lines[0].startswith("# partition\tpath")
    rows = {tuple(line.split("\t")[:2]): line.split("\t") for line in lines[1:]}
    tool = (generic_image.parent / "img-root/usr/bin/tool").read_bytes()
    assert rows[("root", "/usr/bin/tool")] == [
        "root", "/usr/bin/tool", "f", "4755", "0:0", str(len(tool)), hashlib.sha256(tool).hexdigest(),
    ]  # fmt: skip
    notes = rows[("root", "/home/branchwatch/notes.txt")]
    assert notes[3:6] == ["0600", "999:999", "2"]
    assert rows[("root", "/etc/shadow")][3:5] == ["0640", "0:42"]
    assert rows[("root", "/tmp")][2:4] == ["d", "1777"]
    link = rows[("root", "/usr/bin/tool-link")]
    assert link[2] == "l" and link[6] == hashlib.sha256(b"tool").hexdigest()
    config = rows[("boot", "/config.txt")]
    assert config[5:] == [str(len(CONFIG_TXT)), hashlib.sha256(CONFIG_TXT.encode()).hexdigest()]
    assert ("boot", "/overlays/disable-bt.dtbo") in rows
    keys = [line.split("\t")[:2] for line in lines[1:]]
    assert keys == sorted(keys, key=lambda k: [os.fsencode(x) for x in k])


def test_two_builds_of_the_same_inputs_give_the_same_manifest(
    generic_image: Path, tmp_path: Path
) -> None:
    again = build(tmp_path, "again")  # fresh trees, other paths, later file times
    assert manifest(again) == manifest(generic_image)


def test_personalise_writes_the_bundle_into_the_boot_partition(
    generic_image: Path, tmp_path: Path
) -> None:
    require(shutil.which("mtype") is not None, "mtype (mtools) missing")
    image = copy_image(generic_image, tmp_path / "card.img")
    bundle = tmp_path / "site.toml"
    bundle.write_text(BUNDLE)
    personalise(image, bundle)
    boot, _ = boot_and_root(image)
    out = subprocess.run(
        ["mtype", "-i", f"{image}@@{boot.offset}", "::/site.toml"], capture_output=True, check=True
    )
    assert out.stdout.decode() == BUNDLE
    # A personalised card is no longer a generic image: the verifier says so.
    assert verify(image, SMALL) == ["boot partition holds site data: /site.toml"]
    # Personalising again replaces the bundle.
    bundle.write_text(BUNDLE.replace("branch-017", "branch-018"))
    personalise(image, bundle)
    out = subprocess.run(
        ["mtype", "-i", f"{image}@@{boot.offset}", "::/site.toml"], capture_output=True, check=True
    )
    assert b'site = "branch-018"' in out.stdout


def test_personalise_rejects_an_invalid_bundle_and_leaves_the_image_alone(
    generic_image: Path, tmp_path: Path
) -> None:
    image = copy_image(generic_image, tmp_path / "card.img")
    bundle = tmp_path / "site.toml"
    bundle.write_text('site = "x"\nbroker = "http://nope"\ncolour = "red"\n')
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    with pytest.raises(ImageError) as caught:
        personalise(image, bundle)
    message = str(caught.value)
    assert "sensor_id: required" in message and "colour: unknown key" in message
    assert "broker:" in message
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    assert "/site.toml" not in fat_paths(image, boot_and_root(image)[0])


def test_block_map_ranges_rebuild_the_image(generic_image: Path, tmp_path: Path) -> None:
    image = generic_image
    bmap = block_map(image)
    assert bmap["mapped_bytes"] < bmap["image_size"] // 2  # sparse: unwritten space is not mapped
    rebuilt = tmp_path / "rebuilt.img"
    with image.open("rb") as src, rebuilt.open("wb") as dst:
        dst.truncate(bmap["image_size"])
        for r in bmap["ranges"]:
            src.seek(r["start"])
            data = src.read(r["end"] - r["start"])
            assert hashlib.sha256(data).hexdigest() == r["sha256"]
            dst.seek(r["start"])
            dst.write(data)
    digest = hashlib.sha256(rebuilt.read_bytes()).hexdigest()
    assert digest == bmap["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()


def test_data_ranges_of_a_hand_made_sparse_file(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as fh:
        fh.truncate(1 << 20)
        fh.seek(8192)
        fh.write(b"x")
        fh.seek(600 * 1024)
        fh.write(b"y" * 5000)
    ranges = data_ranges(sparse)
    # Filesystems may map data in larger extents than written; every byte written is covered.
    assert any(a <= 8192 < b for a, b in ranges)
    assert any(a <= 600 * 1024 and b >= 600 * 1024 + 5000 for a, b in ranges)
    assert sum(b - a for a, b in ranges) < 1 << 20


def test_pack_writes_a_compressed_image_block_map_and_checksums(
    generic_image: Path, tmp_path: Path
) -> None:
    require(shutil.which("zstd") is not None, "zstd missing")
    image = copy_image(generic_image, tmp_path / "ship.img")
    packed, bmap, sums = pack(image, level=1)
    assert json.loads(bmap.read_text())["format"] == "branchwatch-blockmap/1"
    check = subprocess.run(
        ["sha256sum", "-c", sums.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 3
    out = tmp_path / "unpacked.img"
    subprocess.run(["zstd", "-q", "-d", str(packed), "-o", str(out)], check=True)
    assert out.read_bytes() == image.read_bytes()


def test_compress_refuses_an_unknown_method(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        compress(tmp_path / "x.img", "lz4")


def test_command_line_verifies_and_lists(
    generic_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagetool.__main__ import main

    assert main(["verify", str(generic_image), "--min-boot-mib", "32"]) == 0
    assert main(["verify", str(generic_image)]) == 1  # 34 MiB boot < 256 MiB
    assert "FAIL boot partition 34 MiB < 256 MiB" in capsys.readouterr().out
    out = tmp_path / "manifest.tsv"
    assert main(["manifest", str(generic_image), "-o", str(out)]) == 0
    assert out.read_text() == manifest(generic_image)
