"""Provides `GuardedServer`: textual-serve's `Server` that serves only the token's holder, from its own page.

Every request must carry the start-up token (``?token=`` on the first visit, then a cookie);
the websocket that runs an app must also come from the served page's Origin and Host. At most
`max_tabs` apps run at once; a tab past the cap is told so in its terminal. Each tab's app runs
with its own exercise workspace (``LLM_TUTOR_WORKSPACE_ID=tab-<n>``) and, like every app, its own
kernel. Imported only by `llm-tutor serve web` (it imports aiohttp and textual-serve).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from llm_tutor.engine.remote.web_guard import TabSlots, allowed_hosts, cookie_name, origin_allowed, token_matches

log = logging.getLogger("llm_tutor.remote.web")

NO_TOKEN = ("llm-tutor: this page needs the token printed when the server started. Open the whole address it "
            "printed (…/?token=…).\n")
FOREIGN = "llm-tutor: refused a websocket from another origin or host.\n"


class TabService(AppService):  # type: ignore[misc]
    """An app process with the tab's own environment on top of textual-serve's."""

    def __init__(self, *args: Any, extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env: dict[str, str] = super()._build_environment(width, height)
        env.update(self.extra_env)
        return env


class GuardedServer(Server):  # type: ignore[misc]
    """textual-serve's server with the token, Origin/Host and tab checks of `web_guard`."""

    def __init__(self, command: str, *, token: str, max_tabs: int, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.token = token
        self.cookie = cookie_name(self.port)
        self.hosts = allowed_hosts(self.host, self.port, self.public_url)
        self.tabs = TabSlots(max_tabs)

    @property
    def url(self) -> str:
        """The address to open, with the token."""
        return f"{self.public_url}/?token={self.token}"

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s",
                            datefmt="%Y-%m-%d %H:%M:%S")
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        print(f"llm-tutor serve web: open {self.url}\n(at most {self.tabs.limit} tabs at once; Ctrl+C stops)",
              file=sys.stderr, flush=True)

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Refuse a request without the token; remember a good ``?token=`` in a cookie."""
        by_query = token_matches(request.query.get("token"), self.token)
        if not by_query and not token_matches(request.cookies.get(self.cookie), self.token):
            log.info("refused %s %s from %s: %s", request.method, request.path, request.remote,
                     "wrong token" if "token" in request.query or self.cookie in request.cookies else "no token")
            raise web.HTTPForbidden(text=NO_TOKEN)
        response: web.StreamResponse = await handler(request)
        if by_query and not response.prepared:
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/",
                                secure=self.public_url.startswith("https:"))
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # the token never leaves in a Referer
        return response

    async def handle_index(self, request: web.Request) -> Any:
        if len(self.tabs) >= self.tabs.limit:
            return web.Response(status=503, text=self._full_text())
        return await super().handle_index(request)

    def _full_text(self) -> str:
        return f"llm-tutor: {self.tabs.limit} tabs are open, the most this server allows; close one and reload.\n"

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, after the Origin/Host check and the tab cap; the tab's app gets its workspace."""
        origin, host = request.headers.get("Origin"), request.headers.get("Host", "").lower()
        if host not in self.hosts or not origin_allowed(origin, self.hosts):
            log.warning("refused websocket from %s: Origin %r, Host %r (serving %s)", request.remote, origin, host,
                        self.public_url)
            raise web.HTTPForbidden(text=FOREIGN)
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        slot = self.tabs.take()
        if slot is None:
            log.info("refused a tab from %s: %d tabs open", request.remote, self.tabs.limit)
            await websocket.send_bytes(("\r\n" + self._full_text().replace("\n", "\r\n")).encode())
            await websocket.close(code=1013, message=b"too many tabs")  # 1013: try again later
            return websocket
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        log.info("tab %d opened from %s (%d/%d)", slot, request.remote, len(self.tabs), self.tabs.limit)
        service: TabService | None = None
        try:
            service = TabService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                 close=websocket.close, download_manager=self.download_manager, debug=self.debug,
                                 extra_env={"LLM_TUTOR_WORKSPACE_ID": f"tab-{slot}"})
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:  # noqa: BLE001 - one tab's failure is logged, the server goes on
            log.exception("tab %d failed", slot)
        finally:
            if service is not None:
                await service.stop()
            self.tabs.give_back(slot)
            log.info("tab %d closed (%d/%d)", slot, len(self.tabs), self.tabs.limit)
        return websocket
