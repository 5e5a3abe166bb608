"""The app factory and the entry point that serves it."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any
from urllib.error import URLError

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy.engine import Engine

from bot import blocks
from bot.deps import Deps
from bot.errors import CsiError
from bot.middleware import deduplicate_events
from bot.settings import Settings, SettingsError
from bot.steering import SteeringGroup
from handlers import actions, commands, events, home, views
from scheduler.runner import build_scheduler
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


def check_slack(settings: Settings, client: WebClient) -> None:
    """Fail start-up with an actionable message when Slack is unreachable or refuses the token."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise SettingsError(
            f"Slack refused SLACK_BOT_TOKEN ({error}). Copy the Bot User OAuth Token again from "
            "your app's 'OAuth & Permissions' page; reinstall the app if it was revoked."
        ) from exc
    except (URLError, OSError) as exc:
        raise SettingsError(
            f"Cannot reach the Slack Web API at {settings.slack_api_url} ({exc}). "
            "Check SLACK_API_URL and that this machine can reach it."
        ) from exc


def build_app(deps: Deps, client: WebClient) -> App:
    """Assemble the Bolt app: client, middleware, every handler module."""
    settings = deps.settings
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode traffic is authenticated by the app token, not signed.
        request_verification_enabled=not settings.socket_mode,
        # check_slack() has already asked auth.test with a clearer failure.
        token_verification_enabled=False,
        ignoring_self_events_enabled=True,
    )
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
            respond(
                text=blocks.error_text(message), response_type="ephemeral", replace_original=False
            )

    return app


def serve(settings: Settings) -> None:
    """Migrate, then run the bot and its scheduler (Socket Mode with an app token, else HTTP)."""
    settings.require_for_serve()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    client = build_client(settings)
    check_slack(settings, client)
    deps = Deps(settings=settings, engine=engine, steering=SteeringGroup(settings, client))
    started = time.perf_counter()
    try:
        similar = deps.similar
    except ImportError as exc:
        raise SettingsError(f"CSI_SIMILARITY={settings.similarity_method}: {exc}") from exc
    with deps.session() as session:
        indexed = similar.refresh(session=session)
    log.info(
        "similar-proposal index (%s): %d proposals in %.2f s",
        settings.similarity_method,
        indexed,
        time.perf_counter() - started,
    )
    app = build_app(deps, client)
    scheduler = build_scheduler(deps=deps, client=client)
    scheduler.start()
    # Stop cleanly on SIGTERM (docker stop, systemd) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _run_transport(settings, app, engine)
    finally:
        scheduler.shutdown(wait=False)
        deps.shutdown(wait=False)
        engine.dispose()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _run_transport(settings: Settings, app: App, engine: Engine) -> None:
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("csi-bot starting in Socket Mode")
        try:
            SocketModeHandler(app, settings.slack_app_token).start()
        except SlackApiError as exc:
            raise SettingsError(
                f"Slack refused SLACK_APP_TOKEN ({exc.response.get('error')}). Create an "
                "app-level token with the connections:write scope on your app's 'Basic "
                "Information' page and enable Socket Mode, or unset SLACK_APP_TOKEN for HTTP mode."
            ) from exc
        return
    import waitress

    from bot.web import make_wsgi

    log.info("csi-bot listening on port %s", settings.port)
    waitress.serve(
        make_wsgi(app, engine),
        host="0.0.0.0",
        port=settings.port,
        threads=8,
        max_request_body_size=1_048_576,
        ident="csi-bot",
    )
