"""Provides a small ctypes binding of Linux Landlock: the ABI level, and a ruleset applied to this process.

Why our own module rather than a binding from the package index: the candidates there (``landlock``
1.0.0.dev5, a pre-release; ``py-landlock`` 0.1.x; ``landlockpy`` 0.2.0) are young, single-author
packages, and at the time of writing none documents ABI 6 scopes (signals, abstract Unix sockets),
which the lab's design needs. Landlock itself is three system calls with fixed numbers on every
architecture (444, 445, 446) and three packed structures (``include/uapi/linux/landlock.h``), so
about a hundred lines here carry no less than a dependency would, and nothing in a security
boundary is downloaded from a registry.

Best effort as the kernel documentation asks: the rights handled are those the running kernel's ABI
knows (an older kernel enforces less, and `abi_version` lets the caller say so).
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2

# filesystem rights (ABI 1 unless said)
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
# network rights (ABI 4)
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
# scopes (ABI 6)
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
"""Every filesystem right each ABI knows (5 and later: all sixteen)."""
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
"""The rights that apply to a file (a rule on a file may grant only these)."""

READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
"""Read and run files, list folders."""
WRITE = (READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SYM
         | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_REFER | FS_TRUNCATE)
"""Everything a program does in its own folder (no device nodes)."""
BLIND = FS_READ_FILE | FS_WRITE_FILE | FS_MAKE_REG | FS_REMOVE_FILE | FS_TRUNCATE
"""Make, use and remove files whose names one knows, without listing the folder (/dev/shm: POSIX shared
memory and semaphores, which torch's DataLoader workers and multiprocessing use)."""


class LandlockError(OSError):
    """Landlock is missing or refused a step; the message says which."""


_libc: ctypes.CDLL | None = None


def _syscall(number: int, *args: int | ctypes.c_void_p | None) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    result = int(_libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi_version() -> tuple[int, str]:
    """`(abi, reason)`: the kernel's Landlock ABI (0 when unusable) and, at 0, why."""
    if not os.uname().sysname == "Linux":
        return 0, "Landlock is a Linux feature"
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)), ""
    except OSError as exc:
        if exc.errno == 38:  # ENOSYS
            return 0, "the kernel has no Landlock system calls (Linux 5.13 or later is needed)"
        if exc.errno == 95:  # EOPNOTSUPP
            return 0, "Landlock is built in but not enabled (add landlock to the kernel's lsm= boot option)"
        return 0, f"Landlock cannot be queried: {exc.strerror}"
    except (AttributeError, OSError) as exc:  # no libc syscall()
        return 0, f"Landlock cannot be queried: {exc}"


def restrict(read: Iterable[str], write: Iterable[str], *, devices: Iterable[str] = (), blind: Iterable[str] = (),
             abi: int | None = None, bind_ports: Iterable[int] = (0,), handle_net: bool = True,
             scopes: bool = True) -> int:
    """Confine this process (and every process it starts) for good; returns the ABI that was used.

    Args:
        read: paths whose contents may be read and run (folders: everything beneath them).
        write: paths beneath which everything a program does in its own folder is allowed.
        devices: device files that may be read, written and given ioctls (a GPU's /dev/nvidia*).
        blind: folders where files may be made and used by name but not listed (`BLIND`).
        bind_ports: TCP ports that may be bound (ABI 4+); 0 is the kernel's pick from the ephemeral range
            (`ip_local_port_range`), which is what torchrun's rendezvous and gloo ask for. Connecting is not
            restricted: Landlock rules name ports, not addresses, and peers listen on ephemeral ports.
        handle_net: restrict TCP binding at all (ABI 4+).
        scopes: refuse signals and abstract Unix sockets outside this domain (ABI 6+).

    Paths that do not exist are skipped. Raises `LandlockError` when Landlock is missing or a step fails.
    """
    if abi is None:
        abi, why = abi_version()
        if abi < 1:
            raise LandlockError(why)
    handled_fs = FS_BY_ABI[min(abi, 5)]
    handled_net = NET_BIND_TCP if abi >= 4 and handle_net else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 and scopes else 0
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    buf = ctypes.create_string_buffer(attr[:size], size)
    try:
        ruleset = _syscall(SYS_CREATE_RULESET, ctypes.cast(buf, ctypes.c_void_p), ctypes.c_size_t(size), ctypes.c_uint32(0))
    except OSError as exc:
        raise LandlockError(f"Landlock refused the ruleset: {exc.strerror}") from None
    try:
        for paths, rights in ((read, READ), (write, WRITE), (devices, READ | FS_WRITE_FILE | FS_IOCTL_DEV), (blind, BLIND)):
            for path in paths:
                _add_path(ruleset, path, rights & handled_fs)
        if handled_net:
            for port in bind_ports:
                rule = ctypes.create_string_buffer(struct.pack("=QQ", NET_BIND_TCP, port), 16)
                _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_NET_PORT),
                         ctypes.cast(rule, ctypes.c_void_p), ctypes.c_uint32(0))
        _no_new_privs()
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    except OSError as exc:
        raise LandlockError(f"Landlock could not be applied: {exc.strerror or exc}") from None
    finally:
        os.close(ruleset)
    return abi


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine does not have
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                 ctypes.cast(rule, ctypes.c_void_p), ctypes.c_uint32(0))
    except OSError as exc:
        raise LandlockError(f"Landlock refused the rule for {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: required before Landlock without CAP_SYS_ADMIN; also ends set-uid gains."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(38, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
