"""Work waiting for the similar-proposal index (the matches of a one-line capture made just after
start) is handed on once the register has been read, and no thread waits for it meanwhile."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot import proposals
from bot.drafts import ProposalDraft
from bot.similar_proposals import SimilarProposals
from storage.db import session_scope


def test_work_waiting_for_the_index_runs_once_the_register_is_read(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id
        proposals.capture(
            session=session,
            submitter="U1",
            draft=ProposalDraft(title="Patch servers monthly", objective_id=objective),
        )
    index = SimilarProposals()
    seen: list[tuple[str, list[int]]] = []

    def matches(who: str) -> None:
        with session_scope(engine) as session:
            found = index.similar(session=session, title="Monthly server patching")
        seen.append((who, [m.proposal.id or 0 for m in found]))

    index.when_ready(lambda: matches("asked before"))
    assert seen == []  # nothing read yet: it waits, without holding a thread
    with session_scope(engine) as session:
        index.refresh(session=session)
    assert len(seen) == 1 and seen[0][0] == "asked before" and seen[0][1]
    index.when_ready(lambda: matches("asked after"))
    with session_scope(engine) as session:
        index.refresh(session=session)  # a later refresh runs nothing again
    assert [who for who, _ in seen] == ["asked before", "asked after"]
