"""One folder of a directory walk: the names and identities of its regular files, packed.

Every directory digest, cached or not, lists each folder and stats each entry; re-digesting
an unchanged directory from the stat cache is little else. That loop runs in C
(``_listing.c``, built next to this file by ``core/hatch_build.py`` and loaded with ctypes)
when the library is built, else in Python here; both give exactly the same bytes, so a
directory's walk fingerprint does not depend on which ran.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import struct
import sys
from collections.abc import Callable

from tracline.hashing._file import identity

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes

__all__ = ["IDENTITY", "LIBRARY", "Listed", "folder_lister", "list_folder_python", "native"]

#: One regular file's identity in the packed form: device, inode, size (unsigned), mtime_ns,
#: ctime_ns (signed), 64 bits each, native byte order.
IDENTITY = struct.Struct("=QQQqq")
#: The compiled loop; absent where no C compiler was found at install time.
LIBRARY = os.path.join(os.path.dirname(__file__), "_listing.so")

#: What a folder holds: the names of its regular files, each followed by a NUL; their
#: identities packed one after the other (:data:`IDENTITY`); and the names of all its other
#: entries (folders, symlinks, special files, and entries that could not be stat'ed or whose
#: timestamps do not fit 64 bits), for the caller to look at again.
Listed = tuple[bytes, bytes, list[bytes]]

_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
_NS_MIN, _NS_MAX = -(1 << 63), 1 << 63
#: First buffer sizes (names, identities, other names); a larger folder grows them.
_START = (64 << 10, 1024 * IDENTITY.size, 4 << 10)


def list_folder_python(fd: int) -> Listed:
    """:data:`Listed` for the folder open as ``fd``, in Python (raises ``OSError``)."""
    names: list[bytes] = []
    packed: list[bytes] = []
    others: list[bytes] = []
    pack, is_regular = IDENTITY.pack, stat.S_ISREG
    for name in os.listdir(fd):
        raw = name.encode(_FS_ENCODING, _FS_ERRORS)
        try:
            st = os.stat(raw, dir_fd=fd, follow_symlinks=False)
        except (OSError, ValueError):
            others.append(raw)
            continue
        key = identity(st)
        if is_regular(st.st_mode) and min(key[3:]) >= _NS_MIN and max(key[3:]) < _NS_MAX:
            names.append(raw + b"\0")
            packed.append(pack(*key))
        else:
            others.append(raw)
    return b"".join(names), b"".join(packed), others


@functools.cache
def _library() -> ctypes.CDLL | None:
    if not os.path.exists(LIBRARY):
        return None
    import ctypes  # loaded with the library only: plain imports of tracline.hashing skip it

    try:
        library = ctypes.CDLL(LIBRARY)
    except OSError:
        return None
    function = library.tracline_list_folder
    size = ctypes.c_size_t
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, size, ctypes.c_char_p, size,
                         ctypes.c_char_p, size, ctypes.POINTER(size)]
    function.restype = ctypes.c_int
    return library


def native() -> bool:
    """Whether the C loop is built (it runs without holding the interpreter, so several
    threads can list folders at once)."""
    return _library() is not None


def folder_lister() -> Callable[[int], Listed]:
    """A function giving :data:`Listed` for an open folder (raises ``OSError``): the C loop
    with buffers of its own (one lister per walk; not to be shared by threads), else
    :func:`list_folder_python`."""
    library = _library()
    if library is None:
        return list_folder_python
    import ctypes

    function, string_at = library.tracline_list_folder, ctypes.string_at
    buffers = [ctypes.create_string_buffer(n) for n in _START]
    sizes = (ctypes.c_size_t * 3)()

    def list_folder(fd: int) -> Listed:
        while True:
            names, idents, others = buffers
            done = function(fd, names, len(names), idents, len(idents), others, len(others),
                            sizes)
            if done == 0:
                rest = string_at(others, sizes[2])
                return (string_at(names, sizes[0]), string_at(idents, sizes[1]),
                        rest[:-1].split(b"\0") if rest else [])
            if done != -errno.ENOBUFS:
                raise OSError(-done, os.strerror(-done))
            for i, needed in enumerate(sizes):  # the folder is larger: grow, list again
                if needed > len(buffers[i]):
                    buffers[i] = ctypes.create_string_buffer(needed * 2)

    return list_folder
