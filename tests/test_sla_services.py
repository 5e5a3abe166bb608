"""Services: one row per service whatever the spelling, and the form offering the known ones."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.blocks.forms import proposal_modal
from bot.ids import BlockId
from bot.sla import services
from storage.db import session_scope


def test_spellings_that_differ_in_case_or_spacing_are_one_service(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = services.ensure(session=session, name="Service  desk")
        again = services.ensure(session=session, name=" service desk ")
        other = services.ensure(session=session, name="Email")
        names = services.known_names(session=session)

    assert first.id == again.id != other.id
    assert names == ["Email", "Service desk"]


def _service_hint(view: dict) -> str | None:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == BlockId.SERVICE]
    hint = block.get("hint")
    return None if hint is None else hint["text"]


def test_the_form_offers_the_known_services_and_still_takes_a_new_one() -> None:
    view = proposal_modal(objectives=[], services=["Email", "VPN"])

    assert _service_hint(view) == "Known services: Email, VPN. Type one of them, or a new service."
    assert _service_hint(proposal_modal(objectives=[])) is None


def test_many_services_are_cut_with_a_count_within_slacks_limit() -> None:
    names = [f"Service number {i:03d}" for i in range(300)]

    hint = _service_hint(proposal_modal(objectives=[], services=names))

    assert hint is not None and len(hint) < 2000
    assert hint.startswith("Known services: Service number 000, Service number 001")
    assert " and 290 more." in hint


def test_a_captured_proposal_points_at_its_service_row(engine: Engine) -> None:
    from bot import proposals
    from bot.drafts import ProposalDraft

    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Fewer outages")
        known = services.ensure(session=session, name="Service desk")
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(
                title="Callback queue for the service desk",
                objective_id=objective.id,
                service=" service  DESK ",
            ),
            submitter="U1",
            require_objective=True,
        )
        new, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(
                title="Archive old print queues", objective_id=objective.id, service="Printing"
            ),
            submitter="U1",
            require_objective=True,
        )
        assert proposal.service_id == known.id
        assert new.service_id is not None and new.service_id != known.id
        assert services.known_names(session=session) == ["Printing", "Service desk"]
