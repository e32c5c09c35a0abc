"""Provides the browser server of `llm-tutor serve web`: textual-serve with a page that needs no network.

textual-serve's own page links its web font from Google's CDN; a lab machine may have no
internet, and a student's browser should not call out either. We serve textual-serve's own
JavaScript, CSS and the Roboto Mono font files it ships from `/static`, and use our template
(``templates/app_index.html``), which declares the font locally instead of linking the CDN.
Only a holder of the start-up token, on the page's own origin, gets an app (`web_server`).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from llm_tutor.engine.remote.web_guard import new_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str | None:
    """The warning printed when the server is reachable from other machines, else None."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}:{port}, reachable from other machines. Anyone who can open this page gets "
            "a Python kernel running as this user, and every browser session shares this user's progress. "
            "The token in the URL is the only lock: bind to 127.0.0.1 and reach it through an SSH tunnel (ssh -L) "
            "or an authenticating proxy.")


def app_command(app_args: list[str]) -> str:
    """The shell command textual-serve runs per browser session (the app, in this interpreter)."""
    return shlex.join([sys.executable, "-m", "llm_tutor.tui", *app_args])


def public_url(host: str, port: int, given: str | None) -> str:
    """Where browsers reach the server; a wildcard bind is shown under the machine's name."""
    if given:
        return given.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def served_url(public: str, token: str) -> str:
    """The address to open, token included (printed at start, as Jupyter does)."""
    return f"{public}/?token={token}"


def make_server(host: str, port: int, app_args: list[str], url: str | None = None, *, max_tabs: int = 8,
                token: str | None = None) -> Any:
    """A textual-serve `Server` for the app: the offline page, the token, the origin check and the tab cap."""
    import textual_serve

    from llm_tutor.engine.remote.web_server import GuardedServer

    static = Path(textual_serve.__file__).resolve().parent / "static"
    os.environ["LLM_TUTOR_FORCE_APP"] = "1"  # the web driver talks over pipes, not a terminal
    return GuardedServer(app_command(app_args), host=host, port=port, title="llm-tutor",
                         public_url=public_url(host, port, url), statics_path=static, templates_path=TEMPLATES,
                         token=token or new_token(), max_tabs=max_tabs)


def serve(host: str, port: int, app_args: list[str], url: str | None = None, *, max_tabs: int = 8) -> int:
    """Serve until Ctrl+C."""
    server = make_server(host, port, app_args, url, max_tabs=max_tabs)
    server.serve()
    return 0
