"""A FUSE filesystem that loses, at a simulated power cut, everything not yet fsynced.

`python -m tests.uplink.powerfs MOUNTPOINT` serves one flat directory from memory. File data
becomes durable only at fsync/fdatasync of that file; directory entries (create, rename,
unlink) only at fsync of the directory. Control file `/.ctl` (hidden from listings):
    write "cut N"   the N-th mutating operation (0-based) does not happen: the power is cut
                    there; from then on every operation fails with EIO
    write "revive"  power back: the visible state becomes the durable state at the cut
    write "reset"   empty filesystem, counter 0, no cut armed
    read            "<mutating operations so far> <cut happened 0/1>"
This is the pessimistic end of what a real disk may do after a power cut (all unsynced work
lost); it catches a missing fsync, which SIGKILL tests cannot.
"""

from __future__ import annotations

import errno
import stat
import sys
import time
from typing import Any

from fuse import FUSE, FuseOSError, Operations

CTL = "/.ctl"


class _Inode:
    __slots__ = ("data", "durable")

    def __init__(self) -> None:
        self.data = bytearray()
        self.durable = b""


class PowerCutFS(Operations):  # type: ignore[misc]
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.inodes: dict[int, _Inode] = {}
        self.entries: dict[str, int] = {}
        self.durable_entries: dict[str, int] = {}
        self.next_ino = 1
        self.ops = 0
        self.cut_at = -1
        self.dead = False
        self.after_cut: tuple[dict[str, int], dict[int, bytes]] | None = None

    # --- power ---------------------------------------------------------------------------

    def _mutate(self) -> None:
        if self.dead:
            raise FuseOSError(errno.EIO)
        if self.ops == self.cut_at:
            self.after_cut = (
                dict(self.durable_entries),
                {ino: n.durable for ino, n in self.inodes.items()},
            )
            self.dead = True
            raise FuseOSError(errno.EIO)
        self.ops += 1

    def _revive(self) -> None:
        if self.after_cut is not None:
            entries, data = self.after_cut
            self.entries = dict(entries)
            self.durable_entries = dict(entries)
            self.inodes = {}
            for ino in set(entries.values()):
                node = _Inode()
                node.durable = data.get(ino, b"")
                node.data = bytearray(node.durable)
                self.inodes[ino] = node
        self.dead, self.cut_at, self.after_cut = False, -1, None

    def _node(self, path: str) -> _Inode:
        if self.dead:
            raise FuseOSError(errno.EIO)
        try:
            return self.inodes[self.entries[path]]
        except KeyError:
            raise FuseOSError(errno.ENOENT) from None

    def init(self, path: str) -> None:
        print("ready", flush=True)  # the test waits for this line: the mount is up

    # --- metadata ------------------------------------------------------------------------

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        now = time.time()
        base = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now, "st_ctime": now}
        if path == "/":
            return {**base, "st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_size": 0}
        if path == CTL:
            return {**base, "st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": 64}
        node = self._node(path)
        return {**base, "st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": len(node.data)}

    def readdir(self, path: str, fh: Any) -> list[str]:
        if self.dead:
            raise FuseOSError(errno.EIO)
        return [".", ".."] + [p[1:] for p in self.entries]

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19,
                "f_bavail": 1 << 19, "f_files": 1 << 16, "f_ffree": 1 << 15, "f_namemax": 255}  # fmt: skip

    def access(self, path: str, amode: int) -> int:
        return 0

    def chmod(self, path: str, mode: int) -> int:
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        return 0

    # --- files ---------------------------------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self._mutate()
        ino = self.next_ino
        self.next_ino += 1
        self.inodes[ino] = _Inode()
        self.entries[path] = ino
        return ino

    def open(self, path: str, flags: int) -> int:
        if path == CTL:
            return 0
        self._node(path)
        return self.entries[path]

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        if path == CTL:
            return f"{self.ops} {int(self.after_cut is not None)}\n".encode()[
                offset : offset + size
            ]
        node = self._fh(fh)
        return bytes(node.data[offset : offset + size])

    def _fh(self, fh: int) -> _Inode:
        if self.dead:
            raise FuseOSError(errno.EIO)
        try:
            return self.inodes[fh]
        except KeyError:
            raise FuseOSError(errno.EBADF) from None

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if path == CTL:
            self._control(data.decode().split())
            return len(data)
        node = self._fh(fh)
        self._mutate()
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset : offset + len(data)] = data
        return len(data)

    def _control(self, words: list[str]) -> None:
        if words[0] == "cut":
            self.cut_at = int(words[1])
        elif words[0] == "revive":
            self._revive()
        elif words[0] == "reset":
            self.reset()

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        if path == CTL:
            return 0
        node = self._fh(fh) if fh else self._node(path)
        self._mutate()
        del node.data[length:]
        node.data.extend(bytes(length - len(node.data)))
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        node = self._fh(fh)
        self._mutate()
        node.durable = bytes(node.data)
        return 0

    def opendir(self, path: str) -> int:
        return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self._mutate()
        self.durable_entries = dict(self.entries)
        return 0

    def rename(self, old: str, new: str) -> int:
        self._node(old)
        self._mutate()
        self.entries[new] = self.entries.pop(old)
        return 0

    def unlink(self, path: str) -> int:
        self._node(path)
        self._mutate()
        del self.entries[path]
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        return 0


def main(argv: list[str]) -> None:
    # direct_io and zero cache timeouts: every read and lookup reaches us, so the kernel never
    # serves data that a power cut has taken away.
    FUSE(PowerCutFS(), argv[1], foreground=True, nothreads=True, direct_io=True,
         entry_timeout=0, attr_timeout=0, negative_timeout=0)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv)
