"""Provides the confinement part of `llm-tutor doctor --lab`: each protection, root, and keys a session could write.

The same probe `serve ssh` logs at start (`llm_tutor.engine.sandbox.probe`): each protection is
on, off or unavailable with the reason; running as root and keys or a host key that a session (or
another Unix user) could write are failures with a fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from llm_tutor.engine.cli.doctor import Check


def check_confinement(keys: Path | None, host_key: Path | None, data_root: Path | None,
                      data_dir: Path | None) -> list[Check]:
    from llm_tutor.engine import settings as config
    from llm_tutor.engine.sandbox.probe import LANDLOCK_FS, probe, writable_by_sessions

    found = probe()
    checks = [Check(f"protection: {p.name}", True, p.detail, state=p.state) for p in found.protections]
    if os.geteuid() == 0:
        checks.append(Check("user", False, "running as root: Landlock still confines sessions, but root's code can lift "
                            "rlimits and reach what file permissions would otherwise stop",
                            "run the lab as an ordinary user (serve ssh refuses root unless --allow-root)"))
    else:
        checks.append(Check("user", True, f"uid {os.geteuid()}, not root"))
    root = (data_root or (data_dir or config.data_dir()) / "lab").expanduser().resolve()
    landlock_fs = found.state(LANDLOCK_FS) == "on"
    for what, path in (("keys", keys), ("host key", host_key or root / "ssh_host_ed25519_key")):
        if path is None:
            continue
        path = path.expanduser().resolve()
        target = path if path.exists() else path.parent
        if target.exists() and target.stat().st_mode & 0o022:
            checks.append(Check(f"{what} writable", False, f"{target} can be written by other Unix users "
                                f"(mode {target.stat().st_mode & 0o777:03o})", f"chmod go-w {target}"))
            continue
        why = writable_by_sessions(path, [root / "users"], landlock_fs)
        if why:
            checks.append(Check(f"{what} writable", False, f"a session could change it: {why}",
                                "keep it outside the lab's data root; on a kernel without Landlock, make it owned "
                                "by another user (root) and readable by the lab's user"))
        elif os.access(target, os.W_OK):
            checks.append(Check(f"{what} writable", True, f"{path} is writable by this user but not from a session (Landlock)"))
        else:
            checks.append(Check(f"{what} writable", True, f"{path} is not writable by this user"))
    return checks
