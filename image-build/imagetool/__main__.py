"""python -m imagetool {assemble,verify,manifest,personalise,pack,install-wheel,merge-wheel}.

Run from image-build/ (or with it on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

from imagetool.assemble import BuildSpec, assemble
from imagetool.manifest import manifest
from imagetool.pack import pack
from imagetool.personalise import personalise
from imagetool.shell import ImageError
from imagetool.verify import Policy, verify
from imagetool.wheels import Venv, install_wheel, merge


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagetool", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser(
        "assemble", help="MBR image from a boot tree (FAT32) and a root tree (ext4)"
    )
    build.add_argument("--boot-tree", type=Path, required=True)
    build.add_argument("--root-tree", type=Path, required=True)
    build.add_argument("--image", type=Path, required=True)
    build.add_argument("--boot-mib", type=int, default=512)
    build.add_argument("--root-mib", type=int, default=0, help="0: size from the tree")
    build.add_argument("--epoch", type=int, default=0, help="SOURCE_DATE_EPOCH")
    check = sub.add_parser("verify", help="check a built image is generic and bootable")
    check.add_argument("image", type=Path)
    check.add_argument("--min-boot-mib", type=int, default=256)
    listing = sub.add_parser("manifest", help="content manifest (path, mode, owner, size, sha256)")
    listing.add_argument("image", type=Path)
    listing.add_argument("-o", "--output", type=Path)
    site = sub.add_parser("personalise", help="write a site bundle into an image's boot partition")
    site.add_argument("image", type=Path)
    site.add_argument("bundle", type=Path)
    site.add_argument("--no-check", action="store_true", help="skip bundle validation")
    ship = sub.add_parser("pack", help="compressed image, block map, SHA256SUMS")
    ship.add_argument("image", type=Path)
    ship.add_argument("--compression", choices=["zstd", "xz", "none"], default="zstd")
    ship.add_argument("--level", type=int, default=3, help="compression level (zstd 1-19)")
    wheel = sub.add_parser("install-wheel", help="install a wheel into a staging tree (no pip)")
    wheel.add_argument("wheel", type=Path)
    wheel.add_argument("--stage", type=Path, required=True, help="laid out like the venv prefix")
    wheel.add_argument("--prefix", type=PurePosixPath, required=True, help="the venv in the image")
    wheel.add_argument("--python", required=True, help="the image's Python, e.g. 3.13")
    merged = sub.add_parser("merge-wheel", help="copy staged wheels into an image's venv")
    merged.add_argument("stages", type=Path, nargs="+")
    merged.add_argument("--into", type=Path, required=True, help="the venv inside the image tree")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "assemble":
            spec = BuildSpec(
                args.boot_tree, args.root_tree, args.image, args.boot_mib, args.root_mib,
                source_date_epoch=args.epoch,
            )  # fmt: skip
            boot, root = assemble(spec)
            print(
                f"{args.image}: boot {boot.size_bytes >> 20} MiB, root {root.size_bytes >> 20} MiB"
            )
        elif args.command == "verify":
            problems = verify(args.image, Policy(min_boot_mib=args.min_boot_mib))
            for problem in problems:
                print(f"FAIL {problem}")
            if problems:
                return 1
            print(f"{args.image}: generic image policy OK")
        elif args.command == "manifest":
            text = manifest(args.image)
            if args.output:
                args.output.write_text(text)
            else:
                sys.stdout.write(text)
        elif args.command == "personalise":
            personalise(args.image, args.bundle, check=not args.no_check)
            print(f"{args.image}: site bundle written")
        elif args.command == "pack":
            for path in pack(args.image, args.compression, args.level):
                print(path)
        elif args.command == "install-wheel":
            files = install_wheel(args.wheel, args.stage, Venv(args.prefix, args.python))
            print(f"{args.wheel.name}: {len(files)} files")
        elif args.command == "merge-wheel":
            for stage in args.stages:
                merge(stage, args.into)
    except ImageError as exc:
        print(f"imagetool: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
