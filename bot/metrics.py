"""What `GET /metrics` exposes, in the Prometheus text format (prometheus_client).

Requests by surface and outcome, how long Slack waited for its ack, scheduled job runs by
outcome, and Slack Web API errors by method. One registry per process.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

# `_created` series double the output and say nothing an operator asks about.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
REGISTRY = CollectorRegistry(auto_describe=True)

UP = Gauge("csi_bot_up", "1 while the bot serves HTTP.", registry=REGISTRY)
STARTED = Gauge(
    "csi_bot_start_time_seconds", "When the bot started, in Unix seconds.", registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "csi_bot_http_requests",
    "HTTP requests answered, by path and status.",
    ["path", "status"],
    registry=REGISTRY,
)
SLACK_REQUESTS = Counter(
    "csi_bot_slack_requests",
    "Requests from Slack, by surface (command, action, view, event, options, ...) and outcome "
    "(ok, refused, error).",
    ["surface", "outcome"],
    registry=REGISTRY,
)
ACK_LATENCY = Histogram(
    "csi_bot_ack_latency_seconds",
    "From a verified Slack request to its answer (the ack), by surface. Slack gives up at 3 s.",
    ["surface"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "csi_bot_job_runs",
    "Scheduled job runs, by job and outcome (posted, updated, done_already, busy, failed, ...).",
    ["job", "outcome"],
    registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "csi_bot_slack_api_errors",
    "Slack Web API calls answered with an error, by method and error (http_429, http_500 and "
    "connection count every attempt, retried ones too).",
    ["method", "error"],
    registry=REGISTRY,
)
SCHEDULER_LEADER = Gauge(
    "csi_bot_scheduler_leader",
    "1 while this replica runs the scheduled jobs (the leader), 0 on standby.",
    registry=REGISTRY,
)

UP.set(1)
STARTED.set(time.time())

SURFACES = {
    "event_callback": "event",
    "block_actions": "action",
    "interactive_message": "action",
    "view_submission": "view",
    "view_closed": "view",
    "block_suggestion": "options",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "url_verification": "url_verification",
}


def surface_of(body: dict[str, Any]) -> str:
    """The Slack surface a request body comes from, as a bounded label."""
    if body.get("command"):
        return "command"
    return SURFACES.get(str(body.get("type") or ""), "other")


def outcome_of(status: int) -> str:
    """ok (2xx/3xx), refused (4xx) or error (5xx)."""
    if status >= 500:
        return "error"
    return "refused" if status >= 400 else "ok"


def render() -> bytes:
    """The exposition text of every metric."""
    return generate_latest(REGISTRY)


def _method_of(url: str) -> str:
    path = urlsplit(url).path
    return path.rsplit("/api/", 1)[-1] if "/api/" in path else "other"


class ErrorCounter(RetryHandler):
    """Counts each error answer (429, 5xx, a lost connection) by method; never retries itself.

    Put it first among the client's retry handlers: slack_sdk asks every handler in turn, so it
    sees every failed attempt, including those the next handlers retry."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1_000_000)

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        label = f"http_{response.status_code}" if response is not None else "connection"
        SLACK_API_ERRORS.labels(method=_method_of(request.url), error=label).inc()
        return False


class CountingWebClient(WebClient):
    """A WebClient that counts Slack's `ok: false` answers by method and error."""

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            # HTTP errors were counted per attempt by ErrorCounter.
            if getattr(exc.response, "status_code", 200) == 200:
                error = str(exc.response.get("error") or "unknown")[:40]
                SLACK_API_ERRORS.labels(method=api_method, error=error).inc()
            raise
