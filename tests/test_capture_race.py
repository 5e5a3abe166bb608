"""Two copies of one Slack request capturing at once store one proposal; the copy that loses
answers with the stored one and can still use what it read. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine

from bot import proposals
from bot.drafts import ProposalDraft
from storage import repositories as repo
from storage.db import session_scope


def test_a_copy_that_loses_the_race_answers_with_the_stored_proposal(engine: Engine) -> None:
    with session_scope(engine) as session:
        proposals.add_objective(session=session, title="Fewer outages")
    draft = ProposalDraft(title="Patch the hypervisors monthly")
    outcome: dict[str, object] = {}

    def second_copy() -> None:
        with session_scope(engine) as session:
            objectives = repo.list_objectives(session=session)
            proposal, created = proposals.capture(
                session=session, draft=draft, submitter="U1", source_key="command:T1"
            )
        # Read after the session closed, as a handler building its answer does.
        outcome.update(created=created, id=proposal.id, titles=[o.title for o in objectives])

    with session_scope(engine) as session:
        first, created = proposals.capture(
            session=session, draft=draft, submitter="U1", source_key="command:T1"
        )
        assert created
        copy = threading.Thread(target=second_copy)
        copy.start()
        time.sleep(0.5)  # the copy has looked for the source key and now waits on the insert
    copy.join(timeout=10)
    assert outcome == {"created": False, "id": first.id, "titles": ["Fewer outages"]}
    with session_scope(engine) as session:
        assert len(repo.list_proposals(session=session)) == 1
