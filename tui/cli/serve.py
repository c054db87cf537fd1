"""`sftscope serve SESSION`: the labelling console in a browser, served by textual-serve.

textual-serve runs one process per browser tab, a fixed shell command under Textual's web
driver, and passes it nothing of the page's URL. So each tab runs `sftscope serve SESSION
--tab`: the replay console on the saved session, which asks its rater's name first (a
screen of its own, tui/console/rater.py). A page opened as `/?rater=NAME` skips the
question: its websocket is sent to `/ws/NAME` instead of `/ws`, and the process started for
that websocket gets `--rater NAME` (the one place this module reaches past textual-serve's
public face: a route added to its aiohttp app, and the per-tab command).

The server has no authentication of its own: it binds 127.0.0.1 unless told otherwise and
says so at start. Every label is fsynced as it is made, so a closed tab loses nothing.
"""

from __future__ import annotations

import argparse
import contextvars
import errno
import os
import re
import shlex
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sftscope.tui.cli.errors import UsageError, fail, run_errors

# The rater name of the websocket being handled (None: the tab asks), set per request.
_TAB_RATER: contextvars.ContextVar[str | None] = contextvars.ContextVar("sftscope_tab_rater", default=None)
# What a rater name may be before the raters module checks it (it becomes a file name).
RATER_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def serve_command(args: argparse.Namespace) -> int:
    if args.tab:
        return tab_command(args)
    from sftscope.sessions.core.store import read_header

    directory = Path(args.session).resolve()
    try:
        header = read_header(directory)
        if header.get("kind") == "comparison":
            raise UsageError(f"{directory}: a comparison; serve labels a run session's answers")
        rater = check_name(args.rater)
        if not 1 <= args.port <= 65535:
            raise UsageError(f"--port {args.port}: must be between 1 and 65535")
        check_bindable(args.host, args.port)
        public_url = check_public_url(args.public_url) if args.public_url else local_url(args.host, args.port)
    except run_errors() as exc:
        return fail(str(exc))
    command = [sys.executable, "-m", "sftscope.tui.cli", "serve", str(directory), "--tab"]
    if rater:
        command += ["--rater", rater]
    server = make_server(shlex.join(command), args.host, args.port, public_url, directory.name)
    try:
        server.serve()  # until Ctrl+C or SIGTERM (textual-serve's handlers: a graceful exit)
    except OSError as exc:  # the port taken between the check and the bind
        return fail(f"--host {args.host} --port {args.port}: cannot listen ({exc.strerror or exc})")
    # End now: the tabs' subprocess transports, collected after aiohttp closed the loop, would
    # each print an "Exception ignored" traceback on the way out of a quiet Ctrl+C.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def tab_command(args: argparse.Namespace) -> int:
    """One browser tab: the replay console on the session, as one rater (asked if not given)."""
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.cli.consoles import rater_console

    try:
        rater = check_name(args.rater)
        launch = open_replay(Path(args.session), 0.0, rater=rater, follow=True)
    except run_errors() as exc:
        return fail(str(exc))
    return rater_console(launch, rater)


def check_name(rater: str | None) -> str | None:
    """A rater name given on the command line or in the page's URL, or None (the tab asks)."""
    if rater is None:
        return None
    from sftscope.sessions.core.raters import check_rater

    try:
        return check_rater(rater, "--rater")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_bindable(host: str, port: int) -> None:
    """Bind and release host:port now, so that a port in use or a host that is not this
    machine's is one line before anything starts (aiohttp would print a traceback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host}: not an address this machine can listen on ({exc})") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise UsageError(f"--port {port}: already in use on {host}") from None
                reason = exc.strerror or exc
                raise UsageError(f"--host {host} --port {port}: cannot listen ({reason})") from None


def check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(
            f"--public-url {url}: must be an http:// or https:// address, e.g. https://label.example.org"
        )
    return url.rstrip("/")


def local_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def banner(url: str, host: str, port: int) -> list[str]:
    """What serve says at start: where, and that nothing stands between it and a visitor."""
    where = "this machine only" if host in ("127.0.0.1", "localhost", "::1") else f"every visitor to {host}"
    return [
        f"sftscope: labelling console at {url}  (each tab asks its rater's name; or open {url}/?rater=NAME)",
        f"sftscope: no authentication of its own, listening for {where}: reach it through an SSH tunnel",
        f"  (ssh -L {port}:127.0.0.1:{port} HOST) or an authenticating reverse proxy (--public-url: its URL)",
        "  Labels are saved as they are made; Ctrl+C stops the server.",
    ]


def make_server(command: str, host: str, port: int, public_url: str, name: str) -> Any:
    """textual-serve's Server, with our start message, quieter logs and `/ws/RATER`."""
    import logging

    import aiohttp_jinja2
    from aiohttp import web
    from sftscope.sessions.core.inert import inert_line
    from textual_serve.server import Server

    class LabellingServer(Server):
        @property  # type: ignore[override]
        def command(self) -> str:
            """The tab's command: with --rater NAME for a page opened as /?rater=NAME."""
            rater = _TAB_RATER.get()
            return self._command if rater is None else f"{self._command} --rater {shlex.quote(rater)}"

        @command.setter
        def command(self, value: str) -> None:
            self._command = value

        def initialize_logging(self) -> None:
            super().initialize_logging()
            for name in ("textual-serve", "aiohttp.access"):  # not a line per tab and request
                logging.getLogger(name).setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            for line in banner(self.public_url, host, port):
                print(inert_line(line), file=sys.stderr, flush=True)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.router.add_get("/ws/{rater}", self.handle_rater_websocket)
            return app

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            context: dict[str, Any] = await Server.handle_index.__wrapped__(self, request)  # type: ignore[attr-defined]
            rater = request.query.get("rater")
            if rater is not None:
                if not RATER_SHAPE.fullmatch(rater):
                    raise web.HTTPBadRequest(text="a rater name is letters, digits, . _ - (at most 64)")
                context["app_websocket_url"] += f"/{rater}"
            return context

        async def handle_rater_websocket(self, request: web.Request) -> web.WebSocketResponse:
            rater = request.match_info["rater"]
            if not RATER_SHAPE.fullmatch(rater):
                raise web.HTTPBadRequest(text="bad rater name")
            _TAB_RATER.set(rater)  # this request's task only: read when its process starts
            return await self.handle_websocket(request)

    return LabellingServer(command, host=host, port=port, title=f"sftscope: {name}", public_url=public_url)
