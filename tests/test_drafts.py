"""What a proposal's fields accept, without a database: numbers, sizes, labels, stored text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.drafts import (
    ProposalDraft,
    parse_benefit,
    parse_effort,
    parse_number,
    parse_whole,
    text_problem,
)
from bot.errors import InvalidInput
from bot.register_io.columns import neutralise, status_value, unneutralise


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "NaN", "1e309", "-1e309", "Infinity", "∞"])
def test_numbers_that_are_not_finite_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="The KPI baseline") as caught:
        parse_number(raw, "The KPI baseline")
    assert "number" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"), [("6.5", 6.5), ("6,5", 6.5), ("-5", -5.0), (" 1e3 ", 1000.0), (".5", 0.5)]
)
def test_ordinary_numbers_are_read(raw: str, expected: float) -> None:
    assert parse_number(raw, "The KPI target") == expected


@pytest.mark.parametrize("raw", ["²", "٣", "1_000", "0x10", "3 apples", ""])
def test_what_is_not_a_plain_decimal_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a number"):
        parse_number(raw, "The KPI target")


@pytest.mark.parametrize("raw", ["inf", "nan", "1e309", "9" * 400, "0", "10001"])
def test_effort_refuses_what_is_not_a_bounded_number_of_days(raw: str) -> None:
    with pytest.raises(ValueError, match="Effort"):
        parse_effort(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("xl", ("XL", 40.0)), ("Medium", ("M", 5.0)), ("extra large", ("XL", 40.0))],
)
def test_effort_sizes_in_any_case_and_words(raw: str, expected: tuple[str, float]) -> None:
    assert parse_effort(raw) == expected


def test_a_fractional_whole_number_is_refused_not_rounded() -> None:
    assert parse_whole("4", "Value") == 4
    assert parse_whole("4.0", "Value") == 4
    for raw in ("4.6", "4.7", "4,0", "inf", "1e1"):
        with pytest.raises(ValueError, match="whole number"):
            parse_whole(raw, "Value")


def test_labels_people_see_are_accepted() -> None:
    assert parse_benefit("Customer satisfaction") == "customer_satisfaction"
    assert parse_benefit("EFFICIENCY") == "efficiency"
    assert status_value("Needs an objective") == "needs_objective"
    assert status_value("in progress") == "in_progress"
    assert status_value("Open") == "open"
    with pytest.raises(ValueError, match="not a status"):
        status_value("done")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x1f", "\ud800"])
def test_characters_a_database_cannot_store_are_named(char: str) -> None:
    problem = text_problem(f"ab{char}c")
    assert problem is not None and "position 3" in problem and "cannot be stored" in problem
    assert text_problem("line one\nline two\ttabbed\r\n") is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Fix\x00VPN"),
        ("description", "a\x00"),
        ("outcome", "\x00"),
        ("service", "VPN\x00"),
        ("effort", "3\x00d"),
        ("kpi", "\x00"),
        ("kpi_baseline", "inf"),
        ("kpi_target", "1e309"),
    ],
)
def test_the_form_refuses_unstorable_fields_by_name(field: str, value: str) -> None:
    draft = ProposalDraft(title="Fix VPN")
    setattr(draft, field, value)
    with pytest.raises(InvalidInput) as caught:
        draft.validate(active_objective_ids=set(), require_objective=False)
    assert list(caught.value.errors) == [field]


@given(st.text())
def test_a_neutralised_cell_reads_back_to_the_original(text: str) -> None:
    cell = neutralise(text)
    assert unneutralise(cell) == text
    assert not cell or cell[0] not in "=+-@\t\r"
