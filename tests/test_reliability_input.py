"""Bad input, property-based: whatever a person types into the proposal form, whatever rows a
register file holds and whatever JSON arrives at /api/measurements, the answer is never a 5xx
or a traceback, a refusal says what is wrong, and nothing is stored that should not be.

Also the forged Slack requests tests/test_e2e_edge.py does not send: a timestamp from the
future, a tampered body, and a captured body replayed with a new timestamp, on every kind of
Slack request (command, interactivity, event). (Slash text and payload shapes are fuzzed in
tests/test_e2e_fuzz.py.)

Short by default; CSI_RELIABILITY=full runs ten times the examples.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import register_io
from bot.ids import ActionId, BlockId, CallbackId
from storage.db import make_engine, session_scope, upgrade
from tests.conftest import Stack
from tests.fakeslack.driver import FORM, JSON, sign

pytestmark = pytest.mark.reliability

FULL = os.environ.get("CSI_RELIABILITY") == "full"
EXAMPLES = 400 if FULL else 20
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a person could type, with the characters that break things more often than chance.
TYPED = st.one_of(
    st.text(max_size=60),
    st.text(
        alphabet=st.sampled_from("0123456789.,-+eE dXxSMLl#'\"=@\t\n\x00\u202e²٣"), max_size=12
    ),
    st.sampled_from(
        ["", " ", "0", "6", "-1", "3.5", "1e309", "NaN", "inf", "XL", "3d", "999999d", "=1+1"]
    ),
    st.text(min_size=140, max_size=3100).map(lambda s: s * 2),
)


# ---- the proposal form ---------------------------------------------------------------------
def _count(engine: Engine, table: str, where: str = "") -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one())


def test_any_form_values_are_stored_or_answered_in_the_form(stack: Stack) -> None:
    assert stack.cli("objective", "add", "Reliable input").returncode == 0
    with stack.engine.connect() as connection:
        objective = connection.execute(text("SELECT min(id) FROM objectives")).scalar_one()
    fields = [
        BlockId.TITLE,
        BlockId.DESCRIPTION,
        BlockId.OUTCOME,
        BlockId.SERVICE,
        BlockId.VALUE,
        BlockId.EFFORT,
        BlockId.KPI,
        BlockId.KPI_BASELINE,
        BlockId.KPI_TARGET,
    ]

    @PROPERTY
    @given(values=st.fixed_dictionaries({str(f): TYPED for f in fields}), known=st.booleans())
    def submit(values: dict[str, str], known: bool) -> None:
        state: dict[str, Any] = {name: {ActionId.INPUT: value} for name, value in values.items()}
        chosen = str(objective) if known else "987654"
        option = {"value": chosen, "text": {"type": "plain_text", "text": "o"}}
        state[BlockId.OBJECTIVE] = {
            ActionId.INPUT: {"type": "static_select", "selected_option": option}
        }
        view_id = f"VFUZZ{time.monotonic_ns()}"
        reply = stack.driver.view_submission(
            {"id": view_id, "callback_id": CallbackId.PROPOSAL},
            user_id="U0FORMFUZ",
            state_values=state,
        )
        assert reply.status == 200, (reply.status, reply.body, values)
        stored = _count(stack.engine, "proposals", f"WHERE source_key = 'view:{view_id}'")
        answer = reply.json() if reply.body.strip() else {}
        if answer.get("response_action") == "errors":
            assert stored == 0, values
            errors = answer["errors"]
            assert errors and all(isinstance(m, str) and m.strip() for m in errors.values())
            assert set(errors) <= {*map(str, BlockId)}, errors  # each under a field of the form
        elif answer.get("response_action") == "update":
            assert stored == 0  # held next to a similar proposal: the person chooses first
        else:
            assert stored == 1, (reply.body, values)

    submit()
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]


# ---- rows of an import file ------------------------------------------------------------------
COLUMNS = ["title", "value", "effort", "status", "objective", "created_at", "kpi_baseline", "ref"]
CELL = st.one_of(
    TYPED,
    st.sampled_from(
        [
            "Reliable input",
            "open",
            "merged",
            "needs_objective",
            "2025-01-31T09:00:00+00:00",
            "2025-01-31",
            "'=cmd",
            '"',
            ",",
            ";",
            "\r\n",
        ]
    ),
)


@pytest.fixture(scope="module")
def import_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('imports') / 'csi.db'}")
    upgrade(engine)
    with session_scope(engine) as session:
        register_io.import_sheet(
            session=session,
            sheet=register_io.parse_sheet(b"title\nA proposal already in the register\n"),
        )
        from bot import proposals

        proposals.add_objective(session=session, title="Reliable input")
    yield engine
    engine.dispose()


def _csv(rows: list[list[str]], columns: list[str], delimiter: str) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_any_import_rows_are_all_stored_or_all_refused_with_their_lines(
    import_engine: Engine,
) -> None:
    @PROPERTY
    @given(
        columns=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5, unique=True).map(
            lambda c: c if "title" in c else ["title", *c]
        ),
        data=st.data(),
        delimiter=st.sampled_from([",", ";", "\t"]),
    )
    def load(columns: list[str], data: st.DataObject, delimiter: str) -> None:
        rows = data.draw(
            st.lists(st.lists(CELL, min_size=len(columns), max_size=len(columns)), max_size=6)
        )
        body = _csv(rows, columns, delimiter)
        before = _count(import_engine, "proposals")
        try:
            with session_scope(import_engine) as session:
                sheet = register_io.parse_sheet(body)
                result = register_io.import_sheet(session=session, sheet=sheet)
        except register_io.RegisterImportError as refused:
            # Each problem names its line, or is about the file as a whole.
            problems = refused.problems
            assert problems and all(p.startswith("line ") or "file" in p for p in problems)
            assert _count(import_engine, "proposals") == before, body
            return
        assert _count(import_engine, "proposals") == before + result.count, body
        assert result.count + len(result.skipped) == len(sheet.rows)

    load()


# ---- measurements ----------------------------------------------------------------------------
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["2026-11-16T10:00:00Z", "2026-11-16", "yesterday", "1e309", "NaN"]),
)
MEASUREMENT = st.dictionaries(
    st.sampled_from(["service", "metric", "timestamp", "value", "unit", ""]),
    JSON_SCALARS,
    max_size=5,
) | st.fixed_dictionaries(
    {
        "service": st.sampled_from(["Email", "VPN", "", " ", "x" * 300]),
        "metric": st.sampled_from(["availability", "latency", ""]),
        "timestamp": st.sampled_from(["2026-11-16T10:00:00Z", "2026-11-16T10:00:00", "soon"]),
        "value": JSON_SCALARS,
    }
)
BODIES = st.one_of(
    st.fixed_dictionaries({"measurements": st.lists(MEASUREMENT, max_size=4)}),
    st.recursive(JSON_SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)),
)


def test_any_measurement_json_is_stored_or_refused_with_a_reason(engine: Engine) -> None:
    # What /api/measurements does with an authorized body (bot/ingest.py); its HTTP side, the
    # token and the size limit are tested end to end in tests/test_e2e_ingest.py.
    from bot import ingest

    @PROPERTY
    @given(body=BODIES)
    def post(body: Any) -> None:
        before = _count(engine, "measurements")
        answer = ingest.receive(engine=engine, body=json.dumps(body).encode())
        assert answer.status in ("200 OK", "400 Bad Request"), (answer, body)
        if answer.status.startswith("400"):
            assert isinstance(answer.body.get("error"), str) and answer.body["error"].strip()
            assert _count(engine, "measurements") == before, body
        else:
            assert _count(engine, "measurements") == before + answer.body["stored"], body

    post()


# ---- forged Slack requests ---------------------------------------------------------------------
SECRET = "test-signing-secret"


def _bodies(stack: Stack) -> dict[str, tuple[bytes, str]]:
    """A real command, button press and event, as Slack sends them (body, content type)."""
    captured: dict[str, tuple[bytes, str]] = {}
    command = stack.driver.slash_command_body("objective add Forged objective", user_id="USTEER")
    captured["command"] = (command, FORM)
    click = stack.driver.body_of(
        lambda d: d.block_actions([{"action_id": ActionId.APPROVE, "value": "1"}], user_id="USTEER")
    )
    captured["button"] = (click, FORM)
    event = stack.driver.body_of(lambda d: d.message("USTEER", "approve", "C0PROPOSALS"))
    captured["event"] = (event, JSON)
    return captured


def _forged(body: bytes) -> dict[str, tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    earlier = now - 30  # captured half a minute ago: still inside Slack's five minutes
    tampered = body.replace(b"USTEER", b"UEVIL0001", 1)
    return {
        "future timestamp": (body, {"ts": str(now + 600), "sig": sign(SECRET, now + 600, body)}),
        "tampered body": (tampered, {"ts": str(now), "sig": sign(SECRET, now, body)}),
        "replayed with a new timestamp": (
            body,
            {"ts": str(now), "sig": sign(SECRET, earlier, body)},
        ),
        "signature of another body": (body, {"ts": str(now), "sig": sign(SECRET, now, b"x")}),
        "signature without its version": (
            body,
            {"ts": str(now), "sig": sign(SECRET, now, body).removeprefix("v0=")},
        ),
        "version 1 signature": (
            body,
            {"ts": str(now), "sig": "v1=" + sign(SECRET, now, body).removeprefix("v0=")},
        ),
        "signature in upper case": (body, {"ts": str(now), "sig": sign(SECRET, now, body).upper()}),
        "empty secret": (body, {"ts": str(now), "sig": sign("", now, body)}),
    }


def test_forged_requests_of_every_kind_are_refused_and_change_nothing(stack: Stack) -> None:
    before = {t: _count(stack.engine, t) for t in ("objectives", "proposals", "audit_entries")}
    log_before = len(stack.bot.log())
    for kind, (body, content_type) in _bodies(stack).items():
        for name, (sent, headers) in _forged(body).items():
            reply = stack.driver.raw(
                sent,
                {
                    "Content-Type": content_type,
                    "X-Slack-Request-Timestamp": headers["ts"],
                    "X-Slack-Signature": headers["sig"],
                },
            )
            assert reply.status == 401, f"{kind}, {name}: {reply.status} {reply.body[:200]}"
    time.sleep(0.5)
    after = {t: _count(stack.engine, t) for t in before}
    assert after == before
    assert "Traceback" not in stack.bot.log()[log_before:]
