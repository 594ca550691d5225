"""Image tests: put image-build/ on sys.path (imagetool is not an installed package)."""

from __future__ import annotations

import sys
from pathlib import Path

IMAGE_BUILD = Path(__file__).resolve().parents[2] / "image-build"
if str(IMAGE_BUILD) not in sys.path:
    sys.path.insert(0, str(IMAGE_BUILD))
