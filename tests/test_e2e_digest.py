"""The weekly SLA digest through the fake Slack, on SQLite and PostgreSQL: the message with the
unaddressed breaches first and their button, the chart uploaded by Slack's external upload flow,
the details in the thread, the pre-filled form behind the button, once per period, 200 targets."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from slack_sdk import WebClient

from bot.deps import Deps
from bot.ids import ActionId, BlockId
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler.digest import post_sla_digest
from storage import sla_repository as sla_repo
from storage.db import session_scope
from storage.models import Objective, Proposal
from tests.botproc import BOT_TOKEN, PROPOSALS_CHANNEL, bot_env, free_port, run_cli
from tests.conftest import Stack
from tests.fakeslack import FakeSlack
from tests.fakeslack.server import UPLOAD_METHOD, Call

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _today_utc() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def deps(stack: Stack) -> Iterator[Deps]:
    """The bot's services in the test process, on the stack's database and fake Slack."""
    settings = Settings.from_mapping(stack.env)
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    found = Deps(settings=settings, engine=stack.engine, steering=SteeringGroup(settings, client))
    yield found
    found.shutdown()


@pytest.fixture(scope="module")
def client(stack: Stack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)


def _add_target(stack: Stack, *args: str) -> int:
    added = stack.cli("sla", "target", "add", *args)
    assert added.returncode == 0, added.stderr
    found = re.match(r"Added target (\d+):", added.stdout)
    assert found, added.stdout
    return int(found.group(1))


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, int]:
    """Three targets measured over the last 7 days (UTC), set up as an operator does: Checkout's
    p95 breached with no proposal, VPN's max breached with an open proposal on VPN, Email's
    mean met."""
    ids = {
        "checkout": _add_target(
            stack,
            "--service",
            "Checkout",
            "--metric",
            "response_ms",
            "--aggregate",
            "p95",
            "--comparator",
            "<=",
            "--target",
            "300",
            "--unit",
            "ms",
        ),
        "email": _add_target(
            stack,
            "--service",
            "Email",
            "--metric",
            "availability",
            "--aggregate",
            "mean",
            "--comparator",
            ">=",
            "--target",
            "99.5",
            "--unit",
            "%",
        ),
        "vpn": _add_target(
            stack,
            "--service",
            "VPN",
            "--metric",
            "latency",
            "--aggregate",
            "max",
            "--comparator",
            "<=",
            "--target",
            "50",
        ),
    }
    end = _today_utc()
    rows = ["service,metric,timestamp,value"]
    # p95 of 90 x 200 ms and 10 x 512 ms is 512 ms; the week before, 400 ms.
    for hour in range(1, 101):
        at = (end - timedelta(hours=hour)).isoformat()
        rows.append(f"Checkout,response_ms,{at},{512 if hour <= 10 else 200}")
    for hour in range(1, 31):
        rows.append(f"Checkout,response_ms,{(end - timedelta(days=7, hours=hour)).isoformat()},400")
    for hour in range(1, 11):
        rows.append(f"Email,availability,{(end - timedelta(hours=hour)).isoformat()},99.9")
    for hour in range(1, 7):
        rows.append(f"VPN,latency,{(end - timedelta(hours=hour)).isoformat()},80")
    csv = stack.workdir / "measurements.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    imported = stack.cli("sla", "import", str(csv))
    assert imported.returncode == 0, imported.stderr
    with session_scope(stack.engine) as session:
        proposal = Proposal(
            title="Faster VPN gateway", service="VPN", status="open", submitter="U0001"
        )
        session.add(proposal)
        session.add(Objective(title="Reliable services"))
        session.flush()
        ids["vpn_proposal"] = int(proposal.id or 0)
    return ids


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "button"]


def _initial(view: dict[str, Any], block_id: str) -> str | None:
    """What an input block of a view shows before anyone types: text or chosen option."""
    for block in view["blocks"]:
        if block.get("block_id") == block_id:
            element = block["element"]
            if "initial_value" in element:
                return str(element["initial_value"])
            option = element.get("initial_option")
            return None if option is None else str(option["value"])
    raise AssertionError(f"no block {block_id}")


def test_the_digest_is_posted_with_breaches_first_its_chart_and_details_in_thread(
    stack: Stack, deps: Deps, client: WebClient, seeded: dict[str, int]
) -> None:
    stack.slack.clear()
    posted = post_sla_digest(deps=deps, client=client, now=datetime.now(UTC))
    assert posted is not None and posted.channel == PROPOSALS_CHANNEL
    slack = stack.slack
    assert not slack.refused(), [c.response for c in slack.refused()]
    messages = slack.calls("chat.postMessage")
    top = [c for c in messages if not c.params.get("thread_ts")]
    assert len(top) == 1
    summary = top[0].params["blocks"]
    # The one unaddressed breach comes first after the heading, with its button.
    assert [(b["action_id"], b["value"]) for b in _buttons(summary)] == [
        (ActionId.PROPOSE_IMPROVEMENT, str(seeded["checkout"]))
    ]
    first_target = next(b for b in summary if b.get("accessory"))
    assert "*Checkout*" in first_target["text"]["text"]
    assert "*512 ms* vs target ≤ 300 ms" in first_target["text"]["text"]
    assert "↑ from 400 ms, worse" in first_target["text"]["text"]
    assert "3 targets*: 1 met, 2 breached" in str(summary)
    # Every target in the thread, the VPN breach with the proposal that addresses it.
    thread = [c for c in messages if c.params.get("thread_ts") == posted.ts]
    assert thread
    details = str([c.params["blocks"] for c in thread])
    for service in ("Checkout", "Email", "VPN"):
        assert f"*{service}*" in details
    assert f"addressed by #{seeded['vpn_proposal']} Faster VPN gateway" in details
    assert ":large_green_circle: met" in details
    # The chart: upload URL, the bytes, then shared into the thread by the channel's ID.
    asked = slack.wait_for("files.getUploadURLExternal")
    uploaded = slack.wait_for(UPLOAD_METHOD)
    completed = slack.wait_for("files.completeUploadExternal")
    assert asked.params["filename"].endswith(".png")
    assert (
        uploaded.status == 200 and uploaded.params["file_id"] == completed.params["files"][0]["id"]
    )
    assert completed.params["channel_id"] == PROPOSALS_CHANNEL
    assert completed.params["thread_ts"] == posted.ts
    (chart,) = slack.uploaded_files()
    assert chart["data"].startswith(PNG_SIGNATURE)
    assert int(asked.params["length"]) == len(chart["data"])
    assert Image.open(io.BytesIO(chart["data"])).format == "PNG"


def test_digest_post_on_the_command_line_posts_it_now(stack: Stack, seeded: dict[str, int]) -> None:
    stack.slack.clear()
    done = stack.cli("digest", "--post")
    assert done.returncode == 0, done.stderr
    assert f"Posted the SLA digest to {PROPOSALS_CHANNEL} with its chart" in done.stdout
    (top,) = [c for c in stack.slack.calls("chat.postMessage") if not c.params.get("thread_ts")]
    assert [b["value"] for b in _buttons(top.params["blocks"])] == [str(seeded["checkout"])]
    completed = stack.slack.wait_for("files.completeUploadExternal")
    assert completed.params["channel_id"] == PROPOSALS_CHANNEL
    assert not stack.slack.refused()


def _click(stack: Stack, value: str) -> None:
    reply = stack.driver.block_actions(
        [{"action_id": ActionId.PROPOSE_IMPROVEMENT, "value": value, "block_id": "breach"}],
        channel_id=PROPOSALS_CHANNEL,
    )
    assert reply.status == 200


def test_propose_an_improvement_opens_the_form_prefilled(
    stack: Stack, seeded: dict[str, int]
) -> None:
    stack.slack.clear()
    _click(stack, str(seeded["checkout"]))
    opened = stack.slack.wait_for("views.open")
    assert not opened.refused, opened.response
    view = opened.params["view"]
    assert _initial(view, BlockId.SERVICE) == "Checkout"
    assert _initial(view, BlockId.KPI) == "p95 of response_ms (ms)"
    assert _initial(view, BlockId.KPI_BASELINE) == "512"
    assert _initial(view, BlockId.KPI_TARGET) == "300"


def test_a_forged_or_stale_target_is_refused_in_words(stack: Stack) -> None:
    stack.slack.clear()
    _click(stack, "drop table")
    _click(stack, "2147483647")

    def said(text: str) -> Call:
        return stack.slack.wait_for("response_url", lambda c: text in str(c.params.get("text")))

    said("is not a target number")
    said("There is no target #2147483647.")
    assert not stack.slack.calls("views.open")
    assert "Traceback" not in stack.bot.log()


def test_the_scheduled_digest_posts_once_per_period(
    stack: Stack, deps: Deps, client: WebClient, seeded: dict[str, int]
) -> None:
    stack.slack.clear()
    monday = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert post_sla_digest(deps=deps, client=client, now=monday) is not None
    # A second run in the same period (another replica, a restart) posts nothing.
    assert post_sla_digest(deps=deps, client=client, now=monday + timedelta(minutes=30)) is None
    # The digest itself, not the replies in its thread (how far the objectives got).
    posts = [c for c in stack.slack.calls("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(posts) == 1
    # No measurements in that week: a short honest message, no chart.
    assert "no measurements arrived" in posts[0].params["text"]
    assert "29 Dec 2025 to 4 Jan 2026" in posts[0].params["text"]
    assert not stack.slack.calls("files.getUploadURLExternal")
    # The next period posts again.
    assert post_sla_digest(deps=deps, client=client, now=monday + timedelta(days=7)) is not None
    posts = [c for c in stack.slack.calls("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(posts) == 2


def test_two_hundred_targets_pass_slack_validation(
    stack: Stack, deps: Deps, client: WebClient, seeded: dict[str, int]
) -> None:
    end = _today_utc()
    with session_scope(stack.engine) as session:
        rows: list[sla_repo.MeasurementRow] = []
        for n in range(197):
            service = sla_repo.ensure_service(
                session=session, name=f"Service {n // 3:02d} of the estate"
            )
            assert service.id
            metric = f"metric_{n % 3}_response_time"
            sla_repo.add_target(
                session=session,
                service_id=service.id,
                metric=metric,
                aggregate="mean",
                comparator="<=",
                target=100,
                unit="ms",
            )
            for hour in range(1, 6):
                rows.append((service.id, metric, end - timedelta(hours=hour), 50.0 + n))
        sla_repo.insert_measurements(session=session, rows=rows)
    stack.slack.clear()
    # A daily digest (tomorrow's firing is a period of its own) of the week before tomorrow.
    daily = replace(deps, settings=replace(deps.settings, digest_cron="0 0 * * *"))
    posted = post_sla_digest(deps=daily, client=client, now=datetime.now(UTC) + timedelta(days=1))
    assert posted is not None
    assert not stack.slack.refused(), [c.response for c in stack.slack.refused()][:1]
    messages = stack.slack.calls("chat.postMessage")
    assert all(len(c.params.get("blocks") or []) <= 50 for c in messages)
    # The digest's own replies; how far the objectives got follows them in the thread.
    thread = [
        c
        for c in messages
        if c.params.get("thread_ts") == posted.ts
        and not str(c.params.get("text")).startswith("How far the objectives got")
    ]
    assert len(thread) == posted.replies >= 2
    assert stack.slack.uploaded_files()


def test_an_invalid_digest_cron_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
            CSI_DIGEST_CRON="every monday at nine",
        )
        result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "CSI_DIGEST_CRON='every monday at nine' is not a cron expression" in result.stderr
    assert "e.g. '0 9 * * MON'" in result.stderr
    assert "Traceback" not in result.stderr
