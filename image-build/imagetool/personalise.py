"""Write a site bundle into the FAT partition of an existing image: seconds per card, no rebuild.

The bundle is validated with the same parser first boot uses (firmware.firstboot.read_bundle), so
a card is never shipped with a bundle the sensor would reject.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from imagetool.contents import fat_spec, read_fat_file
from imagetool.layout import boot_and_root
from imagetool.shell import ImageError, run

BUNDLE = "site.toml"


def validate(bundle: Path) -> None:
    """Raise ImageError listing every problem firmware.firstboot would find in the bundle."""
    from firmware.firstboot import BundleError, read_bundle

    try:
        read_bundle(bundle)
    except BundleError as exc:
        raise ImageError("site bundle: " + "; ".join(exc.problems)) from exc


def personalise(image: Path, bundle: Path, *, check: bool = True) -> None:
    """Copy `bundle` as /site.toml onto the image's boot partition (replacing any earlier one)."""
    if check:
        validate(bundle)
    boot, _ = boot_and_root(image)
    with tempfile.TemporaryDirectory(prefix="imagetool-site-") as tmp:
        staged = Path(tmp) / BUNDLE
        staged.write_bytes(bundle.read_bytes())
        os.chmod(staged, 0o600)
        run(["mcopy", "-o", "-i", fat_spec(image, boot), str(staged), f"::/{BUNDLE}"])
    if read_fat_file(image, boot, f"/{BUNDLE}") != bundle.read_bytes():
        raise ImageError(f"{image}: {BUNDLE} read back differs from {bundle}")
