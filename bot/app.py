"""The app factory and the entry point that serves it."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import RandomJitter

from bot.allocator import set_start_up_aside
from bot.deps import Deps, index_file
from bot.metrics import CountingWebClient, ErrorCounter
from bot.middleware import GuardedApp, answer_errors
from bot.settings import Settings, SettingsError
from bot.similarity_refresher import SimilarityRefresher
from bot.steering import SteeringGroup
from handlers import actions, commands, events, home, options, views
from scheduler import leader
from scheduler.runner import ScheduledWork
from storage.db import check_reachable, make_engine, upgrade
from storage.wal_checkpoints import WalCheckpoints

log = logging.getLogger(__name__)


class _WithoutTokenUnusedWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment even when it is handed a client, and then
    # warns at every start that the token "will be unused"; the client carries that very token.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_WithoutTokenUnusedWarning())


class ServerErrorsRetried(ServerErrorRetryHandler):
    """slack_sdk's server-error handler for every 5xx, not only 500 and 503: a 502 or 504 from
    a proxy on the way is as passing."""

    def _can_retry(self, *, response: Any = None, **_: Any) -> bool:
        return response is not None and response.status_code >= 500


def build_client(settings: Settings) -> WebClient:
    """The Web API client: talks to SLACK_API_URL; retries rate limits (after Retry-After),
    Slack's 5xx answers (backing off 1, 2, 4 s) and dropped connections; counts every error by
    method for /metrics."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5, jitter=RandomJitter())
    return CountingWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ErrorCounter(),
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorsRetried(max_retry_count=3, interval_calculator=backoff),
        ],
    )


def check_slack(settings: Settings, client: WebClient) -> None:
    """Fail start-up with an actionable message when Slack is unreachable or refuses the token."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        status = exc.response.status_code
        if status != 200 or "non-JSON" in str(error):
            # Not Slack answering at all: a wrong SLACK_API_URL, not a wrong token.
            raise SettingsError(
                f"SLACK_API_URL={settings.slack_api_url} is not the Slack Web API (auth.test "
                f"answered HTTP {status}{'' if status != 200 else ' with a page that is not JSON'}"
                "). Check SLACK_API_URL, or unset it to use https://slack.com/api/."
            ) from exc
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
    """Assemble the Bolt app: client, middleware, every handler module, the error handler."""
    settings = deps.settings
    app = GuardedApp(
        deps=deps,
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode traffic is authenticated by the app token, not signed.
        verify=not settings.socket_mode,
        # check_slack() has already asked auth.test with a clearer failure.
        token_verification_enabled=False,
        ignoring_self_events_enabled=True,
        # Listeners run on the request thread and Slack gets its answer when they return: an
        # event's effect is written before its 200 (a failed write gets 503, and Slack retries),
        # and an error before the ack is answered by `answer_errors`, never by Bolt's bare 500.
        # Listeners only read, write and ack; every outgoing Slack call runs on `deps.later`,
        # so Bolt's own listener executor (used only for lazy listeners) needs no sizing.
        process_before_response=True,
        # A request no listener takes (a link button, an event type not subscribed) reaches
        # the error handler, which acknowledges it quietly instead of Bolt's 404.
        raise_error_for_unhandled_request=True,
    )
    index = deps.similar.index

    def requests_first(next: Callable[[], Any]) -> Any:
        # Until Slack has its answer, the similar-proposal index's background work steps aside.
        with index.foreground():
            return next()

    app.use(requests_first)
    for module in (commands, views, actions, events, home, options):
        module.register(app, deps)
    app.error(answer_errors(deps))
    return app


def serve(settings: Settings) -> None:
    """Migrate, then run the bot and its scheduler (Socket Mode with an app token, else HTTP)."""
    settings.require_for_serve()
    # Claim the port first, so that a port in use is reported before anything else starts.
    listener = None if settings.socket_mode else bind_port(settings.port)
    try:
        _serve(settings, listener)
    finally:
        if listener is not None:
            listener.close()


def bind_port(port: int) -> socket.socket:
    """A socket bound to `port` on every interface; a port in use is a SettingsError."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingsError(
                f"PORT={port} is already in use by another program. Stop that program, or set "
                "PORT to a free port."
            ) from exc
        raise SettingsError(f"Cannot listen on PORT={port} ({exc.strerror}).") from exc
    return listener


def _serve(settings: Settings, listener: socket.socket | None) -> None:
    # Migrations and the first index build may take longer than a Slack request may wait, so
    # they use an engine without the request path's short timeouts.
    bulk = make_engine(settings.database_url)
    try:
        check_reachable(bulk)
        upgrade(bulk)
        client = build_client(settings)
        check_slack(settings, client)
        engine = make_engine(settings.database_url, for_requests=True)
        deps = Deps(settings=settings, engine=engine, steering=SteeringGroup(settings, client))
        try:
            similar = deps.similar
        except ImportError as exc:
            raise SettingsError(f"CSI_SIMILARITY={settings.similarity_method}: {exc}") from exc
    finally:
        bulk.dispose()
    app = build_app(deps, client)
    set_aside = set_start_up_aside()
    log.info("%d objects made at start-up set aside from the garbage collector", set_aside)
    # The register is read into the index in the background: the bot serves at once, and a
    # question asked meanwhile uses what has been read so far.
    # A restart takes the index kept by the last run instead (bot/kept_index.py).
    refresher = SimilarityRefresher(
        similar, settings.database_url, kept_file=index_file(settings)
    ).start()
    checkpoints = WalCheckpoints(engine).start()
    # One replica runs the scheduled jobs: the leader (PostgreSQL advisory lock); SQLite: this.
    work = ScheduledWork(
        deps=deps, client=client, leadership=leader.for_database(settings.database_url, engine)
    )
    work.start()
    # Stop cleanly on SIGTERM (docker stop, systemd) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _run_transport(settings, app, deps, listener, lambda: work.state)
    finally:
        work.stop()
        refresher.stop()
        checkpoints.stop()
        deps.shutdown(wait=False)
        engine.dispose()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _run_transport(
    settings: Settings,
    app: App,
    deps: Deps,
    listener: socket.socket | None,
    scheduler_state: Callable[[], str],
) -> None:
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

    from bot.reaction_path import ReactionPath
    from bot.web import MAX_BODY_BYTES, make_wsgi

    assert listener is not None, "HTTP mode binds its port before start-up"
    # Reaction events, most of the traffic, skip Bolt's listener chain; same handler, same answers.
    reactions = ReactionPath(
        deps=deps,
        client=app.client,
        handle=lambda reaction: events.on_reaction(deps, app.client, reaction),
    )
    reactions.prepare()
    log.info("csi-bot listening on port %s", settings.port)
    waitress.serve(
        make_wsgi(
            app,
            deps.engine,
            signing_secret=settings.slack_signing_secret or "",
            ingest_token=settings.ingest_token,
            reactions=reactions.answer,
            scheduler_state=scheduler_state,
        ),
        sockets=[listener],
        threads=8,
        max_request_body_size=MAX_BODY_BYTES,
        ident="csi-bot",
    )
