"""The app factory and the entry point that serves it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy.engine import Engine

from bot import blocks
from bot.deps import Deps
from bot.errors import CsiError
from bot.middleware import SteeringGroup, deduplicate_events
from bot.settings import Settings
from handlers import actions, commands, events, home, views
from storage.db import make_engine, upgrade

log = logging.getLogger(__name__)


def build_client(settings: Settings) -> WebClient:
    """The Web API client: talks to SLACK_API_URL, retries rate limits and dropped connections."""
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def build_app(settings: Settings, engine: Engine) -> App:
    """Assemble the Bolt app: client, middleware, every handler module."""
    client = build_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode traffic is authenticated by the app token, not signed.
        request_verification_enabled=not settings.socket_mode,
        ignoring_self_events_enabled=True,
    )
    deps = Deps(settings=settings, engine=engine)
    deps.extras["steering"] = SteeringGroup(settings, client)
    app.middleware(deduplicate_events(deps))
    for module in (commands, views, actions, events, home):
        module.register(app, deps)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Any) -> None:
        # Typed failures become a message to the person; anything else is logged with its trace
        # and the person is told something went wrong rather than left waiting.
        if isinstance(error, CsiError):
            message = str(error)
        else:
            log.exception("unhandled error", exc_info=error)
            message = "Something went wrong on my side; nothing was lost. Please try again."
        if body.get("response_url"):
            respond(text=blocks.error_text(message), response_type="ephemeral",
                    replace_original=False)

    return app


def serve(settings: Settings) -> None:
    """Migrate, then run the bot: Socket Mode with an app token, HTTP (waitress) otherwise."""
    settings.require_for_serve()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    app = build_app(settings, engine)
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("csi-bot starting in Socket Mode")
        SocketModeHandler(app, settings.slack_app_token).start()
        return
    import waitress

    from bot.web import make_wsgi

    log.info("csi-bot listening on port %s", settings.port)
    waitress.serve(make_wsgi(app, engine), host="0.0.0.0", port=settings.port, threads=8,
                   max_request_body_size=1_048_576, ident="csi-bot")
