"""Provides the checks of `llm-tutor serve web`: the start-up token, the Origin and Host a websocket may come from, tab slots.

Like Jupyter's server: a random token is made at each start and printed in the URL; a request
proves it holds the token with ``?token=`` (the first visit) or the cookie set then. The cookie's
name carries the port, since browsers share cookies between the ports of one host. A websocket
must also come from the page's own origin (a foreign web page open in the same browser sends its
own ``Origin``) and name the served host (against DNS rebinding). No aiohttp here: the server in
`engine.remote.web` calls these.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

TOKEN_BYTES = 24
"""Random bytes in a token (32 URL-safe characters)."""


def new_token() -> str:
    """A fresh random token for one server start."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(given: str | None, token: str) -> bool:
    """True when `given` is the token; constant time, so the comparison leaks nothing of it."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


def cookie_name(port: int) -> str:
    """The token cookie's name for a server on `port`."""
    return f"llm_tutor_token_{port}"


def _netloc(host: str, port: int, scheme: str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    return host if port == default else f"{host}:{port}"


def allowed_hosts(bind_host: str, port: int, public: str) -> set[str]:
    """The ``host[:port]`` values a browser on the served page sends as Host and in its Origin.

    The public URL's, the bound address's (unless a wildcard) and, on a loopback bind, the
    loopback names; all lower case.
    """
    hosts = {urlsplit(public).netloc.lower()}
    names = [bind_host] if bind_host not in ("", "0.0.0.0", "::") else []
    try:
        if ipaddress.ip_address(bind_host).is_loopback:
            names += ["127.0.0.1", "localhost", "::1"]
    except ValueError:
        if bind_host == "localhost":
            names += ["127.0.0.1", "::1"]
    for name in names:
        hosts.add(_netloc(name.lower(), port, "http"))
    return hosts


def origin_allowed(origin: str | None, hosts: set[str]) -> bool:
    """True when a websocket's Origin header is the served page's own origin."""
    if not origin:
        return False
    url = urlsplit(origin)
    return url.scheme in ("http", "https") and url.netloc.lower() in hosts and not url.path.strip("/")


class TabSlots:
    """Numbered places for browser tabs, at most `limit` at once; a closed tab's number is reused.

    A tab's number names its exercise workspace (``tab-<n>``), so a reopened tab finds its files
    again and two open tabs never write the same file.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken: set[int] = set()

    def take(self) -> int | None:
        """The lowest free number (1-based), or None when `limit` tabs are open."""
        for n in range(1, self.limit + 1):
            if n not in self.taken:
                self.taken.add(n)
                return n
        return None

    def give_back(self, n: int) -> None:
        self.taken.discard(n)

    def __len__(self) -> int:
        return len(self.taken)
