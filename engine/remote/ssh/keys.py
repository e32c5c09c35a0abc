"""Provides the SSH lab's keys: its persistent host key, and which public keys may log in under which name."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from llm_tutor.engine.remote.users import valid_user_name

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("llm_tutor.remote.ssh")


def quiet_asyncssh_warnings() -> None:
    """Hide the deprecation warnings asyncssh's import raises (its DSA support): noise in every server log.

    Only asyncssh's, only cryptography's deprecation category: any other warning still shows.
    """
    import warnings

    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")


class HostKeyError(Exception):
    """The host key cannot be used (unsafe mode, unreadable); the message says how to fix it."""


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The server's persistent host key; made (ed25519, mode 0600) on first run."""
    import asyncssh

    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise HostKeyError(f"the host key {path} can be read by other users (mode {mode:03o}); run: chmod 600 {path}")
        try:
            return asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise HostKeyError(f"cannot read the host key {path}: {exc}") from None
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key())
    Path(str(path) + ".pub").write_bytes(key.export_public_key())
    log.info("made a new host key %s (%s)", path, key.get_fingerprint())
    return key


class KeyStore:
    """Which public keys may log in under which name. Read on every login, so edits need no restart."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def per_user(self) -> bool:
        return self.path.is_dir()

    def keys_for(self, name: str) -> asyncssh.SSHAuthorizedKeys | None:
        import asyncssh

        if not valid_user_name(name):
            return None
        source = self.path / f"{name}.pub" if self.per_user else self.path
        if not source.is_file():
            return None
        try:
            return asyncssh.read_authorized_keys(str(source))
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            log.warning("cannot read authorized keys %s: %s", source, exc)
            return None
