"""Image tests: put image-build/ on sys.path (imagetool is not an installed package)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import require

IMAGE_BUILD = Path(__file__).resolve().parents[2] / "image-build"
if str(IMAGE_BUILD) not in sys.path:
    sys.path.insert(0, str(IMAGE_BUILD))


@pytest.fixture(autouse=True)
def _image_tools() -> None:
    from tests.image.synthetic import TOOLS

    missing = [t for t in TOOLS if shutil.which(t) is None]
    require(
        not missing,
        f"image tools missing: {missing} (apt-get install mtools dosfstools e2fsprogs fdisk)",
    )


@pytest.fixture(scope="session")
def generic_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generic image shared by the tests that only read it (building one takes seconds)."""
    from tests.image.synthetic import TOOLS, build

    missing = [t for t in TOOLS if shutil.which(t) is None]
    require(not missing, f"image tools missing: {missing}")
    return build(tmp_path_factory.mktemp("generic"))
