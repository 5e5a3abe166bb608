"""The SLA digest's messages: unaddressed breaches first with their button, every target in the
thread, Slack's limits kept with 200 targets, an honest message when there is nothing to show."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.blocks import digest as digest_blocks
from bot.blocks.digest import ProposalRef
from bot.ids import ActionId, BlockId
from bot.sla.evaluation import Digest, TargetResult
from tests.fakeslack.validation import check_message

START = datetime(2026, 11, 16, tzinfo=UTC)
END = datetime(2026, 11, 23, tzinfo=UTC)


def result(target_id: int, **changes: Any) -> TargetResult:
    values: dict[str, Any] = {
        "target_id": target_id,
        "service": "Checkout",
        "metric": "response_ms",
        "aggregate": "p95",
        "comparator": "<=",
        "target": 300.0,
        "unit": "ms",
        "actual": 512.0,
        "previous": 480.0,
        "breached": True,
        "samples": 120,
        "enough_samples": True,
        "min_samples": 10,
        "trend": "worse",
        "change": 32.0,
        "proposals": [],
    }
    values.update(changes)
    return TargetResult(**values)


def digest_of(targets: list[TargetResult], *, measurements: int = 1000) -> Digest:
    unaddressed = [t for t in targets if t.breached is True and not t.proposals]
    return Digest(
        period_start=START,
        period_end=END,
        timezone="UTC",
        targets=targets,
        unaddressed=unaddressed,
        measurements=measurements,
    )


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "button"]


def test_unaddressed_breaches_come_first_each_with_a_propose_button() -> None:
    targets = [
        result(1, service="Email", breached=False, actual=250.0, trend="better"),
        result(2, service="VPN"),
        result(3, service="Checkout", proposals=[12]),
    ]
    message = digest_blocks.summary_message(digest_of(targets))
    assert check_message({"text": message.text, "blocks": message.blocks}) is None
    found = buttons(message.blocks)
    assert [(b["action_id"], b["value"]) for b in found] == [(ActionId.PROPOSE_IMPROVEMENT, "2")]
    assert found[0]["text"]["text"] == "Propose an improvement"
    texts = json.dumps(message.blocks)
    assert "1 breach no open proposal addresses" in texts
    assert "3 targets*: 1 met, 2 breached" in texts
    # The breach shows actual vs target and the trend arrow.
    breach = next(b for b in message.blocks if "accessory" in b)["text"]["text"]
    assert "*VPN*" in breach and "*512 ms* vs target ≤ 300 ms" in breach
    assert "↑ from 480 ms, worse" in breach


def test_every_target_is_in_the_thread_with_verdict_trend_and_its_proposals() -> None:
    targets = [
        result(1, service="Email", breached=False, actual=250.0, trend="better", change=-230.0),
        result(2, service="Checkout", proposals=[12, 13]),
        result(3, service="VPN", actual=3.0, breached=None, enough_samples=False, samples=3),
        result(4, service="VPN", metric="uptime", actual=None, breached=None, samples=0),
    ]
    refs = {12: ProposalRef(12, "Cache the <b>basket</b>", "https://x.slack.com/p1")}
    details = digest_blocks.detail_messages(digest_of(targets), refs)
    text = json.dumps([m.blocks for m in details], ensure_ascii=False)
    assert ":large_green_circle: met" in text and "↓ from 480 ms, better" in text
    assert ":red_circle: breached" in text
    assert "addressed by <https://x.slack.com/p1|#12 Cache the &lt;b&gt;basket&lt;/b&gt;>" in text
    assert "#13" in text
    assert "too few samples for a verdict (3 of 10 needed)" in text
    assert "no measurements" in text
    for message in details:
        assert check_message({"text": message.text, "blocks": message.blocks}) is None


def test_user_text_in_service_and_metric_cannot_ping_or_format() -> None:
    targets = [result(1, service="<!channel> *bold*", metric="a_b`c")]
    message = digest_blocks.summary_message(digest_of(targets))
    details = digest_blocks.detail_messages(digest_of(targets), {})
    text = json.dumps([message.blocks, *[m.blocks for m in details]], ensure_ascii=False)
    assert "<!channel>" not in text and "*bold*" not in text and "a_b`c" not in text
    assert "&lt;!channel&gt;" in text
    # A metric is shown as typed, in a code span it cannot close.
    assert "`a_b\u02cbc`" in text


def test_two_hundred_targets_stay_within_slack_limits() -> None:
    targets = [
        result(
            n,
            service=f"Service {n // 4:03d} with a rather long descriptive name",
            metric=f"metric{n % 4}-response-time-ms",
            breached=n % 3 != 0,
            proposals=[n] if n % 2 else [],
        )
        for n in range(1, 201)
    ]
    digest = digest_of(targets)
    refs = {n: ProposalRef(n, "A proposal with a title of some length " * 2) for n in range(201)}
    summary = digest_blocks.summary_message(digest)
    details = digest_blocks.detail_messages(digest, refs)
    assert len(summary.blocks) <= 50
    assert len(details) > 1, "200 targets need several thread messages"
    for message in [summary, *details]:
        assert len(message.blocks) <= 50
        assert check_message({"text": message.text, "blocks": message.blocks}) is None
    # Every unaddressed breach has its button once: in the message, the rest in the thread.
    all_buttons = buttons(summary.blocks) + [b for m in details for b in buttons(m.blocks)]
    assert sorted(int(b["value"]) for b in all_buttons) == sorted(
        t.target_id for t in digest.unaddressed
    )
    assert len(buttons(summary.blocks)) == digest_blocks.BREACHES_IN_MESSAGE
    # Every target appears in the thread.
    thread = json.dumps([m.blocks for m in details], ensure_ascii=False)
    assert all(f"metric{n}-response-time-ms" in thread for n in range(4))
    assert thread.count("• p95 of") == 200


def test_no_targets_gives_a_short_honest_message() -> None:
    message = digest_blocks.nothing_to_report(digest_of([], measurements=0))
    assert message is not None
    assert "no service level targets are defined yet" in message.text
    assert check_message({"text": message.text, "blocks": message.blocks}) is None


def test_no_measurements_gives_a_short_honest_message() -> None:
    targets = [result(1, actual=None, previous=None, breached=None, samples=0, trend=None)]
    message = digest_blocks.nothing_to_report(digest_of(targets, measurements=0))
    assert message is not None
    assert "no measurements arrived for any of the 1 target" in message.text
    assert digest_blocks.nothing_to_report(digest_of([result(1)])) is None


def test_the_form_is_prefilled_with_service_kpi_baseline_and_target() -> None:
    values = digest_blocks.improvement_form_values(result(5, actual=512.25), digest_of([]))
    assert values[BlockId.SERVICE] == "Checkout"
    assert values[BlockId.KPI] == "p95 of response_ms (ms)"
    assert values[BlockId.KPI_BASELINE] == "512.25"
    assert values[BlockId.KPI_TARGET] == "300"
    assert values[BlockId.DESCRIPTION] == (
        "Checkout: the p95 of response_ms (ms) was 512.25 ms in 16 Nov to 22 Nov 2026, "
        "against a target of ≤ 300 ms."
    )


def test_the_period_reads_as_its_days_in_the_configured_zone() -> None:
    berlin = replace(
        digest_of([]),
        period_start=datetime(2026, 11, 15, 23, tzinfo=UTC),
        period_end=datetime(2026, 11, 22, 23, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert digest_blocks.period_label(berlin) == "16 Nov to 22 Nov 2026"
