"""The HTTP face of the bot: Slack's requests, the health check, served by waitress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.engine import Engine

from storage.db import ping

StartResponse = Callable[..., Any]


def _reply(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def make_wsgi(
    app: App, engine: Engine
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application: POST /slack/events to Bolt, GET /healthz, 404 for the rest."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            if method != "POST":
                return _reply(
                    start_response,
                    "405 Method Not Allowed",
                    {"error": "Slack requests are POSTed here."},
                )
            return slack(environ, start_response)
        if path == "/healthz":
            if ping(engine):
                return _reply(start_response, "200 OK", {"status": "ok"})
            return _reply(
                start_response,
                "503 Service Unavailable",
                {"status": "error", "error": "the database does not answer"},
            )
        return _reply(start_response, "404 Not Found", {"error": f"nothing at {path}"})

    return application
