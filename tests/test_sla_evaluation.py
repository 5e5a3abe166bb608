"""SLA evaluation over known data, on SQLite and PostgreSQL: each aggregate and comparator, a
breach, a met target, the previous period, too few samples, the unaddressed breaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.sla import measurements, targets
from bot.sla.evaluation import Digest, TargetResult, digest_json, evaluate
from bot.sla.measurements import MeasurementIn
from storage.db import session_scope
from storage.models import Proposal

AS_OF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: the period is 16-22 November
IN_PERIOD = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
IN_PREVIOUS = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)


def _measure(engine: Engine, service: str, metric: str, start: datetime, values: list[float]):
    with session_scope(engine) as session:
        measurements.store(
            session=session,
            measurements=[
                MeasurementIn(service, metric, start + timedelta(minutes=10 * i), value)
                for i, value in enumerate(values)
            ],
        )


def _target(engine: Engine, service: str, metric: str, aggregate: str, comparator: str, t: float):
    with session_scope(engine) as session:
        return targets.add(
            session=session,
            service=service,
            metric=metric,
            aggregate=aggregate,
            comparator=comparator,
            target=t,
        ).id


def _digest(engine: Engine, timezone: str = "UTC", as_of: datetime = AS_OF) -> Digest:
    with session_scope(engine) as session:
        return evaluate(session=session, as_of=as_of, timezone=timezone)


def _by_id(digest: Digest) -> dict[int, TargetResult]:
    return {result.target_id: result for result in digest.targets}


@pytest.mark.parametrize(
    ("aggregate", "comparator", "target", "actual", "breached"),
    [
        ("mean", ">=", 10.5, 10.5, False),  # on the target: met
        ("mean", ">", 10.5, 10.5, True),
        ("min", ">=", 2, 1, True),
        ("min", "<", 2, 1, False),
        ("max", "<=", 20, 20, False),
        ("max", "<", 20, 20, True),
        ("sum", ">=", 210, 210, False),
        ("sum", ">", 210, 210, True),
        ("count", ">=", 21, 20, True),
        ("count", "<=", 20, 20, False),
        # Nearest rank: of 20 values the 19th (ceil(0.95 * 20)), not an interpolation.
        ("p95", "<=", 19, 19, False),
        ("p95", "<", 19, 19, True),
    ],
)
def test_each_aggregate_and_comparator_is_judged_on_known_data(
    engine: Engine,
    aggregate: str,
    comparator: str,
    target: float,
    actual: float,
    breached: bool,
) -> None:
    # 1..20 shuffled, so no aggregate can lean on insertion order.
    values = [
        float(v) for v in (7, 3, 19, 1, 12, 20, 5, 16, 9, 14, 2, 18, 11, 6, 15, 8, 13, 4, 17, 10)
    ]
    _measure(engine, "Email", "latency", IN_PERIOD, values)
    target_id = _target(engine, "Email", "latency", aggregate, comparator, target)

    result = _by_id(_digest(engine))[target_id]

    assert result.actual == pytest.approx(actual)
    assert result.breached is breached
    assert result.samples == 20
    assert result.enough_samples


def test_p95_of_a_larger_sample_is_the_value_at_rank_ceil_95_percent(engine: Engine) -> None:
    # 101 values 0..100: rank ceil(95.95) = 96, the value 95.
    _measure(engine, "VPN", "latency", IN_PERIOD, [float(v) for v in reversed(range(101))])
    target_id = _target(engine, "VPN", "latency", "p95", "<=", 90)

    result = _by_id(_digest(engine))[target_id]

    assert result.actual == 95.0
    assert result.breached is True


def test_previous_period_and_trend_follow_the_targets_direction(engine: Engine) -> None:
    _measure(engine, "Email", "availability", IN_PREVIOUS, [99.0] * 10)
    _measure(engine, "Email", "availability", IN_PERIOD, [99.5] * 10)
    _measure(engine, "Email", "latency", IN_PREVIOUS, [100.0] * 10)
    _measure(engine, "Email", "latency", IN_PERIOD, [150.0] * 10)
    up = _target(engine, "Email", "availability", "mean", ">=", 99.9)
    slower = _target(engine, "Email", "latency", "max", "<=", 200)

    results = _by_id(_digest(engine))

    assert results[up].previous == pytest.approx(99.0)
    assert results[up].actual == pytest.approx(99.5)
    assert results[up].breached is True
    assert results[up].trend == "better"  # higher availability is better
    assert results[slower].previous == pytest.approx(100.0)
    assert results[slower].breached is False
    assert results[slower].trend == "worse"  # higher latency is worse, even when met


def test_too_few_samples_gives_no_verdict(engine: Engine) -> None:
    _measure(engine, "Email", "availability", IN_PERIOD, [10.0, 10.0, 10.0, 10.0])
    _measure(engine, "Email", "latency", IN_PERIOD, [1.0] * 19)
    mean = _target(engine, "Email", "availability", "mean", ">=", 99)
    p95 = _target(engine, "Email", "latency", "p95", "<=", 0.5)
    count = _target(engine, "Email", "availability", "count", ">=", 100)

    digest = _digest(engine)
    results = _by_id(digest)

    assert results[mean].enough_samples is False
    assert results[mean].breached is None
    assert results[mean].actual == pytest.approx(10.0)  # shown, but not judged
    assert results[p95].enough_samples is False  # 19 < 20
    assert results[p95].breached is None
    # A count is its own answer: 4 of the 100 wanted is a breach, not "too few samples".
    assert results[count].breached is True
    assert digest.unaddressed == [results[count]]


def test_measurements_outside_the_period_do_not_count(engine: Engine) -> None:
    end = datetime(2026, 11, 23, tzinfo=UTC)
    with session_scope(engine) as session:
        measurements.store(
            session=session,
            measurements=[
                MeasurementIn("Email", "errors", IN_PERIOD - timedelta(microseconds=1), 1000.0),
                MeasurementIn("Email", "errors", IN_PERIOD, 1.0),
                MeasurementIn("Email", "errors", end - timedelta(microseconds=1), 2.0),
                MeasurementIn("Email", "errors", end, 1000.0),
            ],
        )
    target_id = _target(engine, "Email", "errors", "sum", "<=", 5)

    result = _by_id(_digest(engine))[target_id]

    assert (result.samples, result.actual, result.breached) == (2, 3.0, False)


def test_period_is_seven_whole_days_in_the_configured_time_zone(engine: Engine) -> None:
    # In Berlin (UTC+1 in November) the period starts at 2026-11-15T23:00Z.
    _measure(engine, "Email", "errors", datetime(2026, 11, 15, 23, 0, tzinfo=UTC), [1.0])
    _measure(engine, "Email", "errors", datetime(2026, 11, 15, 22, 59, tzinfo=UTC), [100.0])
    target_id = _target(engine, "Email", "errors", "sum", "<=", 5)

    berlin = _digest(engine, timezone="Europe/Berlin")
    utc = _digest(engine, timezone="UTC")

    assert berlin.period_start.isoformat() == "2026-11-16T00:00:00+01:00"
    assert berlin.period_end.isoformat() == "2026-11-23T00:00:00+01:00"
    assert _by_id(berlin)[target_id].actual == 1.0
    assert _by_id(utc)[target_id].samples == 0


def test_unaddressed_lists_breaches_without_an_open_proposal(engine: Engine) -> None:
    for service in ("Email", "VPN", "Wiki"):
        _measure(engine, service, "availability", IN_PERIOD, [90.0] * 10)
    email = _target(engine, "Email", "availability", "mean", ">=", 99)
    vpn = _target(engine, "VPN", "availability", "mean", ">=", 99)
    wiki = _target(engine, "Wiki", "availability", "mean", ">=", 80)  # met
    with session_scope(engine) as session:
        # Typed differently from the target's service: still the same service.
        addressed = Proposal(
            title="Mail relay", submitter="U1", status="approved", service=" email"
        )
        rejected = Proposal(title="VPN idea", submitter="U1", status="rejected", service="VPN")
        session.add_all([addressed, rejected])
        session.flush()
        addressed_id = addressed.id

    digest = _digest(engine)
    results = _by_id(digest)

    assert results[email].breached is True
    assert results[email].proposals == [addressed_id]
    assert results[vpn].breached is True
    assert results[vpn].proposals == []  # a rejected proposal addresses nothing
    assert results[wiki].breached is False
    assert [r.target_id for r in digest.unaddressed] == [vpn]


def test_digest_json_has_the_contract_shape(engine: Engine) -> None:
    _measure(engine, "Email", "availability", IN_PERIOD, [99.95] * 10)
    _target(engine, "Email", "availability", "mean", ">=", 99.9)

    document = digest_json(_digest(engine))

    assert set(document) >= {"period", "targets", "unaddressed"}
    assert set(document["period"]) >= {"start", "end"}
    (target,) = document["targets"]
    assert {
        key: target[key]
        for key in (
            "service",
            "metric",
            "aggregate",
            "comparator",
            "target",
            "breached",
            "proposals",
        )
    } == {
        "service": "Email",
        "metric": "availability",
        "aggregate": "mean",
        "comparator": ">=",
        "target": 99.9,
        "breached": False,
        "proposals": [],
    }
    assert target["actual"] == pytest.approx(99.95)
    assert target["previous"] is None
    assert document["unaddressed"] == []


def test_no_targets_gives_an_empty_digest(engine: Engine) -> None:
    _measure(engine, "Email", "availability", IN_PERIOD, [99.0])

    digest = _digest(engine)

    assert digest.targets == [] and digest.unaddressed == []
