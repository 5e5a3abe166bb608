"""Submitting next to similar proposals: the form is held while its author chooses to vote for an
existing proposal instead, or to submit anyway. Plain Python over storage, no Slack."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlmodel import Session

from bot import proposals, similar_proposals, votes
from bot.drafts import ProposalDraft
from bot.errors import CsiError
from bot.proposals import ProposalSummary
from bot.similar_proposals import SimilarMatch, SimilarProposals
from bot.votes import VoteGiven
from storage import repositories as repo
from storage.models import Proposal


@dataclass(frozen=True)
class Held:
    """The form waits under `key`: these proposals look like it."""

    key: str
    matches: list[SimilarMatch]
    related: list[ProposalSummary]


@dataclass(frozen=True)
class Stored:
    """The form became a proposal (`created` is False when it was a repeated delivery)."""

    proposal: Proposal
    created: bool


@dataclass(frozen=True)
class Voted:
    """The author voted for an existing proposal instead; nothing new was stored."""

    vote: VoteGiven

    @property
    def summary(self) -> ProposalSummary:
        """The proposal that has the vote."""
        return self.vote.summary


def held_key(source_key: str) -> str:
    """The key a form is held under: one per Slack request, so that copies of the same
    submission hold it once and answer alike. Only its author can take it (see `decide`)."""
    return hashlib.sha256(source_key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Looked:
    """A complete form read against the register, before anything is written for it."""

    draft: ProposalDraft
    submitter: str
    source_key: str
    objective_ids: set[int]
    # The similar proposals to hold it next to; None: none.
    held: Held | None
    # Stored already, by a copy of the same submission.
    stored: Proposal | None


def submit(
    *,
    session: Session,
    similar: SimilarProposals,
    draft: ProposalDraft,
    submitter: str,
    source_key: str,
) -> Held | Stored:
    """Store a complete form, unless similar proposals exist: then hold it and say which.

    Copies of one submission (`source_key`) arriving at once are decided once: the first holds
    the form's key until it has stored or held it, the others wait for it and answer alike.
    """
    looked = look(
        session=session, similar=similar, draft=draft, submitter=submitter, source_key=source_key
    )
    return store(session=session, similar=similar, looked=looked)


def look(
    *,
    session: Session,
    similar: SimilarProposals,
    draft: ProposalDraft,
    submitter: str,
    source_key: str,
) -> Looked:
    """The reading part of `submit`: the form checked, and the similar proposals found. No
    write: on SQLite the file's one write lock is then held for the writes only, not for the
    search as well (milliseconds of processor on a busy machine)."""
    objective_ids = proposals.active_objective_ids(session=session)
    draft.validate(active_objective_ids=objective_ids, require_objective=True)
    stored = repo.proposal_by_source(session=session, source_key=source_key)
    held = None
    if stored is None:
        held = _similar(session=session, similar=similar, draft=draft, key=held_key(source_key))
    return Looked(draft, submitter, source_key, objective_ids, held, stored)


def store(*, session: Session, similar: SimilarProposals, looked: Looked) -> Held | Stored:
    """The writing part of `submit`, the first write of its unit of work: the form held next to
    the similar proposals `look` found, or stored."""
    if looked.stored is not None:
        return Stored(proposal=looked.stored, created=False)
    draft, submitter, source_key = looked.draft, looked.submitter, looked.source_key
    key = held_key(source_key)
    held_draft = {"fields": draft.fields(), "source_key": source_key}
    if repo.hold_draft(session=session, key=key, user_id=submitter, draft=held_draft):
        stored = repo.proposal_by_source(session=session, source_key=source_key)
        if stored is not None:
            # A copy stored it and gave the key back just before this one took it.
            repo.take_pending_draft(session=session, key=key, user_id=submitter)
            return Stored(proposal=stored, created=False)
        if looked.held is not None:
            return looked.held
        repo.take_pending_draft(session=session, key=key, user_id=submitter)
    else:
        # Another copy had the key; it has finished now. Its answer is ours, looked for again:
        # the rollback let go of the proposals read before it.
        stored = repo.proposal_by_source(session=session, source_key=source_key)
        if stored is not None:
            return Stored(proposal=stored, created=False)
        held = _similar(session=session, similar=similar, draft=draft, key=key)
        if held is not None:
            return held
    proposal, created = proposals.capture(
        session=session,
        draft=draft,
        submitter=submitter,
        source_key=source_key,
        require_objective=True,
        objective_ids=looked.objective_ids,
    )
    return Stored(proposal=proposal, created=created)


def _similar(
    *, session: Session, similar: SimilarProposals, draft: ProposalDraft, key: str
) -> Held | None:
    matches = similar.similar(
        session=session,
        title=draft.title,
        description=draft.description,
        service=draft.service,
        objective_id=draft.objective_id,
    )
    if not matches:
        return None
    related = similar_proposals.related(
        session=session,
        service=draft.service,
        objective_id=draft.objective_id,
        exclude=[m.proposal.id or 0 for m in matches],
    )
    return Held(key=key, matches=matches, related=related)


def decide(
    *,
    session: Session,
    similar: SimilarProposals,
    key: str,
    user_id: str,
    vote_for: int | None,
) -> Stored | Voted | None:
    """Carry out the author's choice for a held form; None when it was decided already.

    A vote follows a merge to where the proposal went; when it cannot be given (the proposal no
    longer takes votes) the form stays held and the refusal says why.
    """
    if vote_for is not None:
        votes.votable_target(session=session, proposal_id=vote_for)
    pending = repo.take_pending_draft(session=session, key=key, user_id=user_id)
    if pending is None:
        return None
    if vote_for is not None:
        return Voted(vote=votes.vote_for(session=session, proposal_id=vote_for, user_id=user_id))
    draft = ProposalDraft(**pending.draft["fields"])
    try:
        proposal, created = proposals.capture(
            session=session,
            draft=draft,
            submitter=user_id,
            source_key=pending.draft["source_key"],
            require_objective=True,
        )
    except CsiError:
        # Keep the held form, so that the author can still decide once the problem is fixed.
        repo.save_pending_draft(
            session=session, key=key, user_id=user_id, draft=dict(pending.draft)
        )
        raise
    for match in similar.similar(
        session=session,
        title=draft.title,
        description=draft.description,
        exclude=[proposal.id or 0],
    ):
        repo.link_related(
            session=session, proposal_id=proposal.id or 0, related_id=match.proposal.id or 0
        )
    return Stored(proposal=proposal, created=created)
