"""Queries of the register, as keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, literal_column, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.lifecycle_tables import BenefitCheck
from storage.models import (
    AuditEntry,
    JobRun,
    Objective,
    PendingDraft,
    ProcessedEvent,
    Proposal,
    ProposalLink,
    Vote,
)
from storage.types import utcnow

ID_BATCH = 1000


def get_objective(*, session: Session, objective_id: int) -> Objective | None:
    """The objective with this ID, or None."""
    return session.get(Objective, objective_id)


def objective_by_title(*, session: Session, title: str) -> Objective | None:
    """The objective with this title (case-insensitive), or None."""
    statement = select(Objective).where(func.lower(Objective.title) == title.strip().lower())
    return session.exec(statement).first()


def list_objectives(*, session: Session, include_retired: bool = False) -> list[Objective]:
    """Objectives by title; only the active ones unless asked."""
    statement = select(Objective).order_by(col(Objective.title))
    if not include_retired:
        statement = statement.where(col(Objective.active).is_(True))
    return list(session.exec(statement))


def active_objective_ids(*, session: Session) -> set[int]:
    """IDs of the active objectives (plain values, no ORM objects: asked on every form)."""
    statement = sa_select(col(Objective.id)).where(col(Objective.active).is_(True))
    return {int(oid) for (oid,) in session.execute(statement)}


def objectives_by_id(*, session: Session, objective_ids: Iterable[int]) -> dict[int, Objective]:
    """These objectives (retired ones too) by ID; IDs that name none are left out."""
    wanted = sorted(set(objective_ids))
    if not wanted:
        return {}
    if len(wanted) == 1:  # a card: by primary key, from the session when it has it already
        one = session.get(Objective, wanted[0])
        return {wanted[0]: one} if one is not None else {}
    statement = select(Objective).where(col(Objective.id).in_(wanted))
    return {o.id: o for o in session.exec(statement) if o.id is not None}


def get_proposal(
    *, session: Session, proposal_id: int, for_update: bool = False
) -> Proposal | None:
    """The proposal with this ID, or None; `for_update` locks its row until the unit of work ends,
    so that what is read is what the unit of work changes."""
    if not for_update:
        return session.get(Proposal, proposal_id)
    # A no-op update takes the lock on both databases: SQLite has no SELECT ... FOR UPDATE, and a
    # read made before its write lock may be stale by the time the write happens.
    session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id)
        .values(updated_at=Proposal.updated_at)
        .execution_options(synchronize_session=False)
    )
    return session.get(Proposal, proposal_id, populate_existing=True)


def proposal_by_source(*, session: Session, source_key: str) -> Proposal | None:
    """The proposal captured from this Slack request, if already stored."""
    return session.exec(select(Proposal).where(Proposal.source_key == source_key)).first()


def proposal_by_ref(*, session: Session, ref: str) -> Proposal | None:
    """The proposal imported under this register reference."""
    return session.exec(select(Proposal).where(Proposal.ref == ref)).first()


def proposal_identities(*, session: Session) -> list[tuple[int, str | None, str, str, str]]:
    """(id, ref, title, submitter, description) of every proposal: what an import compares."""
    # SQLModel's select() is typed for at most four columns; SQLAlchemy's takes any number.
    from sqlalchemy import select as select_columns

    statement = select_columns(
        col(Proposal.id),
        col(Proposal.ref),
        col(Proposal.title),
        col(Proposal.submitter),
        col(Proposal.description),
    ).order_by(col(Proposal.id))
    return [
        (int(pid or 0), ref, title, who, text)
        for pid, ref, title, who, text in session.execute(statement)
    ]


BULK_CHUNK = 5000


def _insert_many(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (each naming the same columns) in the session's transaction, quickly:
    PostgreSQL's COPY, elsewhere the driver's executemany in chunks.

    Each value goes through its column type's own conversion, as SQLAlchemy would; what is left
    out is SQLAlchemy's per-row bookkeeping, most of the time of a 100,000-row import.
    """
    connection = session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(k) for k in keys)
    values = _converted(dialect, [table.c[k].type for k in keys], rows)
    if dialect.name == "postgresql":
        driver_connection: Any = connection.connection.dbapi_connection
        with (
            driver_connection.cursor() as cursor,
            cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy,
        ):
            for row in values:
                copy.write_row(row)
        return
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join(marker for _ in keys)})"
    chunk: list[tuple[Any, ...]] = []
    for row in values:
        chunk.append(row)
        if len(chunk) == BULK_CHUNK:
            connection.exec_driver_sql(sql, chunk)
            chunk = []
    if chunk:
        connection.exec_driver_sql(sql, chunk)


def _converted(
    dialect: Any, types: list[Any], rows: list[dict[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    """Each row's values as the driver takes them (the column types' bind conversions)."""
    processors = [kind.dialect_impl(dialect).bind_processor(dialect) for kind in types]
    converted = [(n, p) for n, p in enumerate(processors) if p is not None]
    # A column often holds one value throughout (the import's time): converted once.
    last: dict[int, tuple[Any, Any]] = {}
    for row in rows:
        values = list(row.values())
        for n, process in converted:
            value = values[n]
            seen = last.get(n)
            if seen is not None and seen[0] is value:
                values[n] = seen[1]
            else:
                values[n] = process(value)
                last[n] = (value, values[n])
        yield tuple(values)


def add_proposals(
    *, session: Session, rows: list[dict[str, Any]], key_prefix: str
) -> dict[str, int]:
    """Insert many proposals (an import); the IDs by `source_key`, each starting `key_prefix`.

    Every row names the same columns in the same order. No ORM object per row and no
    RETURNING (SQLAlchemy joins the RETURNING batches of one statement with a cost that grows
    with the square of the rows); the IDs are read back by the batch's key prefix.
    """
    if not rows:
        return {}
    _insert_many(session, Proposal.__table__, rows)  # type: ignore[attr-defined]
    statement = select(col(Proposal.id), col(Proposal.source_key)).where(
        col(Proposal.source_key).startswith(key_prefix, autoescape=True)
    )
    return {str(key): int(pid or 0) for pid, key in session.execute(statement)}


def link_merged(*, session: Session, merged: dict[int, int]) -> None:
    """Mark each proposal merged into its target and link the two (an import's merged rows)."""
    if not merged:
        return
    from sqlalchemy import bindparam

    table = Proposal.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table).where(table.c.id == bindparam("pid")).values(merged_into_id=bindparam("to")),
        [{"pid": pid, "to": target} for pid, target in merged.items()],
    )
    now = utcnow()
    _insert_many(
        session,
        ProposalLink.__table__,  # type: ignore[attr-defined]
        [{"proposal_id": p, "related_id": t, "created_at": now} for p, t in merged.items()],
    )


def add_audit_entries(*, session: Session, entries: list[dict[str, Any]]) -> None:
    """Append many history entries at once; each names the same columns, all but the ID."""
    if entries:
        _insert_many(session, AuditEntry.__table__, entries)  # type: ignore[attr-defined]


def proposal_by_card(*, session: Session, channel_id: str, message_ts: str) -> Proposal | None:
    """The proposal whose card is this channel message."""
    statement = select(Proposal).where(
        Proposal.channel_id == channel_id, Proposal.message_ts == message_ts
    )
    return session.exec(statement).first()


def proposals_missing_card(
    *,
    session: Session,
    statuses: Iterable[str],
    now: datetime,
    captured_only: bool = False,
    unchanged_since: datetime | None = None,
    respect_backoff: bool = True,
    limit: int | None = None,
) -> list[int]:
    """IDs of proposals in these statuses without a card that nobody is posting, oldest first.

    `captured_only` keeps those captured in Slack (imported ones have no source key);
    `unchanged_since` leaves out those changed after that moment (their own request may be
    posting the card right now); `respect_backoff=False` includes cards Slack refused lately.
    """
    statement = (
        select(Proposal.id)
        .where(
            col(Proposal.message_ts).is_(None),
            col(Proposal.status).in_(list(statuses)),
            _card_free(now=now, respect_backoff=respect_backoff),
        )
        .order_by(col(Proposal.id))
    )
    if captured_only:
        statement = statement.where(col(Proposal.source_key).is_not(None))
    if unchanged_since is not None:
        statement = statement.where(col(Proposal.updated_at) < unchanged_since)
    if limit is not None:
        statement = statement.limit(limit)
    return [int(pid) for pid in session.exec(statement) if pid is not None]


def _card_free(*, now: datetime, respect_backoff: bool) -> Any:
    """No live claim on the card (and, respecting backoff, no refused post waiting to retry)."""
    free = or_(col(Proposal.card_claimed_until).is_(None), col(Proposal.card_claimed_until) < now)
    if respect_backoff:
        return free
    return or_(free, col(Proposal.card_claim).is_(None))


def claim_card(
    *,
    session: Session,
    proposal_id: int,
    token: str,
    seen_claim: str | None,
    now: datetime,
    until: datetime,
    respect_backoff: bool = True,
) -> bool:
    """Claim the posting of a proposal's card until `until`, if its claim is still `seen_claim`
    (read before, in another transaction); False when it has a card, another process holds a
    live claim or won the race, or (respecting backoff) a refused post waits for its retry time.

    One conditional UPDATE decides: of several replicas or threads, one wins. It runs in a
    transaction of its own: on SQLite a read before it could not be upgraded to a write.
    """
    result: Any = session.execute(
        update(Proposal)
        .where(
            col(Proposal.id) == proposal_id,
            col(Proposal.message_ts).is_(None),
            # Compare-and-set: a claim changed since it was read means someone else won.
            col(Proposal.card_claim).is_not_distinct_from(seen_claim),
            _card_free(now=now, respect_backoff=respect_backoff),
        )
        .values(card_claim=token, card_claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def store_card(*, session: Session, proposal_id: int, channel_id: str, message_ts: str) -> bool:
    """Record where the card was posted and end the claim; False when it already had a card."""
    result: Any = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id, col(Proposal.message_ts).is_(None))
        .values(
            channel_id=channel_id, message_ts=message_ts, card_claim=None, card_claimed_until=None
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def store_card_permalink(
    *, session: Session, proposal_id: int, message_ts: str, permalink: str
) -> None:
    """Record the link to the card, if it is still the proposal's card."""
    session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id, col(Proposal.message_ts) == message_ts)
        .values(permalink=permalink)
        .execution_options(synchronize_session=False)
    )


def release_card_claim(
    *, session: Session, proposal_id: int, token: str, retry_at: datetime | None
) -> None:
    """Give up a claim whose post Slack refused; nobody tries again before `retry_at`."""
    session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id, col(Proposal.card_claim) == token)
        .values(card_claim=None, card_claimed_until=retry_at)
        .execution_options(synchronize_session=False)
    )


def list_proposals(
    *,
    session: Session,
    statuses: Iterable[str] | None = None,
    submitter: str | None = None,
    ids: Iterable[int] | None = None,
) -> list[Proposal]:
    """Proposals, oldest first, optionally filtered."""
    if ids is not None:
        wanted = sorted(set(ids))
        if len(wanted) > ID_BATCH:
            # Databases cap the parameters of one statement (SQLite: 32,766): ask in batches.
            return [
                p
                for start in range(0, len(wanted), ID_BATCH)
                for p in list_proposals(
                    session=session,
                    statuses=statuses,
                    submitter=submitter,
                    ids=wanted[start : start + ID_BATCH],
                )
            ]
    statement = select(Proposal).order_by(col(Proposal.id))
    if statuses is not None:
        statement = statement.where(col(Proposal.status).in_(list(statuses)))
    if submitter is not None:
        statement = statement.where(Proposal.submitter == submitter)
    if ids is not None:
        statement = statement.where(col(Proposal.id).in_(wanted))
    return list(session.exec(statement))


def proposal_versions_since(
    *, session: Session, since: datetime | None
) -> list[tuple[int, datetime]]:
    """(id, updated_at) of proposals updated at or after `since` (of all with None): cheap,
    no full rows."""
    statement = select(Proposal.id, Proposal.updated_at)
    if since is not None:
        statement = statement.where(col(Proposal.updated_at) >= since)
    return [(int(pid), updated) for pid, updated in session.exec(statement) if pid is not None]


def proposal_count(*, session: Session) -> int:
    """How many proposals the register holds, whatever their status."""
    return int(session.execute(sa_select(func.count()).select_from(Proposal)).scalar_one())


# What the duplicate warning compares of a candidate: its title, service and objective.
ProposalHead = tuple[str, str | None, int | None]


def proposal_heads(*, session: Session, ids: Sequence[int]) -> dict[int, ProposalHead]:
    """Title, service and objective of the given proposals (at most ID_BATCH ids), as plain
    values: the warning judges ten candidates on every capture and form, and shows few."""
    if not ids:
        return {}
    statement = sa_select(
        col(Proposal.id), col(Proposal.title), col(Proposal.service), col(Proposal.objective_id)
    ).where(col(Proposal.id).in_(list(ids)))
    return {
        int(pid): (title, service, objective_id)
        for pid, title, service, objective_id in session.execute(statement)
    }


# What the similarity index reads of a proposal: id, title, description, outcome, status and
# updated_at, as plain rows (no ORM objects: a register of 100,000 is read in little memory).
ProposalText = tuple[int, str, str, str, str, datetime]


def _proposal_texts() -> Select[Any]:
    return sa_select(
        col(Proposal.id),
        col(Proposal.title),
        col(Proposal.description),
        col(Proposal.outcome),
        col(Proposal.status),
        col(Proposal.updated_at),
    ).order_by(col(Proposal.id))


def proposal_texts(
    *, session: Session, after_id: int = 0, limit: int = 2000, ids: Sequence[int] | None = None
) -> list[ProposalText]:
    """The indexed columns of the given proposals (at most ID_BATCH ids), or of the next
    `limit` proposals by id after `after_id`."""
    statement = _proposal_texts()
    if ids is not None:
        statement = statement.where(col(Proposal.id).in_(list(ids)))
    else:
        statement = statement.where(col(Proposal.id) > after_id).limit(limit)
    return [
        (int(pid), title, description or "", outcome or "", status, updated)
        for pid, title, description, outcome, status, updated in session.execute(statement)
    ]


@dataclass(frozen=True)
class DriverQuery:
    """A query as SQL for one database driver, to be run without SQLAlchemy (by a process
    that imports the driver alone): the text, and its parameters' values by name, with the
    order in which a positional driver takes them (None: the driver takes them by name)."""

    sql: str
    params: dict[str, Any]
    order: list[str] | None


def proposal_texts_query(dialect: Dialect) -> DriverQuery:
    """What `proposal_texts` runs to read the next `limit` proposals by id after `after_id`
    (both parameters to set), as SQL for `dialect`."""
    statement = _proposal_texts().where(col(Proposal.id) > bindparam("after_id"))
    compiled = statement.limit(bindparam("limit")).compile(dialect=dialect)
    return DriverQuery(
        sql=str(compiled),
        params=dict(compiled.params),
        order=list(compiled.positiontup or ()) if compiled.positional else None,
    )


def proposal_with_standing(
    *, session: Session, proposal_id: int
) -> tuple[Proposal, Objective | None, int] | None:
    """The proposal with this ID, its objective and its number of votes, read by one statement
    (a card is read after every change); None when there is no such proposal."""
    votes = (
        sa_select(func.count())
        .where(col(Vote.proposal_id) == col(Proposal.id))
        .correlate(Proposal)
        .scalar_subquery()
    )
    statement = (
        select(Proposal, Objective, votes)
        .outerjoin(Objective, col(Objective.id) == col(Proposal.objective_id))
        .where(col(Proposal.id) == proposal_id)
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    proposal, objective, count = row
    return proposal, objective, int(count or 0)


def vote_counts(*, session: Session, proposal_ids: Sequence[int]) -> dict[int, int]:
    """Number of votes per proposal ID (absent IDs have none)."""
    if not proposal_ids:
        return {}
    statement = (
        select(Vote.proposal_id, func.count())
        .where(col(Vote.proposal_id).in_(list(proposal_ids)))
        .group_by(col(Vote.proposal_id))
    )
    return {proposal_id: count for proposal_id, count in session.exec(statement)}


def add_vote(*, session: Session, proposal_id: int, user_id: str) -> bool:
    """Record a vote; False when this person had already voted (the unique key says so)."""
    return add_vote_once(session=session, proposal_id=proposal_id, user_id=user_id)


def _insert_new(session: Session, model: Any, values: dict[str, Any], key: list[str]) -> bool:
    # INSERT … ON CONFLICT DO NOTHING: a row already there is no error, so the caller's unit of
    # work needs no savepoint and stays one short transaction (both backends speak it).
    from sqlalchemy.dialects import postgresql, sqlite

    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert: Any = postgresql.insert if postgres else sqlite.insert
    statement = (
        dialect_insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(literal_column("1"))
    )
    # RETURNING says whether the row went in; the rowcount does not (psycopg reports -1).
    return session.execute(statement).first() is not None


def mark_event(*, session: Session, event_id: str) -> bool:
    """Mark a Slack event as handled in the caller's unit of work, so the mark commits or rolls
    back with the event's effect; False when it was handled before (a retry). A concurrent copy
    waits for the first one's transaction and then finds its mark."""
    return _insert_new(
        session, ProcessedEvent, {"event_id": event_id, "received_at": utcnow()}, ["event_id"]
    )


def new_events(*, session: Session, event_ids: Sequence[str]) -> set[str]:
    """Mark many Slack events as handled in one statement; the IDs that were not marked before.
    Like `mark_event`, the marks commit or roll back with the caller's unit of work."""
    if not event_ids:
        return set()
    from sqlalchemy.dialects import postgresql, sqlite

    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert: Any = postgresql.insert if postgres else sqlite.insert
    now = utcnow()
    statement = (
        dialect_insert(ProcessedEvent)
        # In one order everywhere, so two such inserts at once wait for each other, never
        # deadlock.
        .values([{"event_id": e, "received_at": now} for e in sorted(set(event_ids))])
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(col(ProcessedEvent.event_id))
    )
    return {str(e) for e in session.execute(statement).scalars()}


def proposals_by_cards(
    *, session: Session, cards: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(ID, status) of the proposals whose cards are these (channel, message ts) pairs, in one
    query (columns only: this runs for every batch of reactions)."""
    wanted = set(cards)
    if not wanted:
        return {}
    by_channel: dict[str, set[str]] = {}
    for channel, ts in wanted:
        by_channel.setdefault(channel, set()).add(ts)
    # Channel first, as in the index on cards.
    statement = select(
        Proposal.id, Proposal.status, Proposal.channel_id, Proposal.message_ts
    ).where(
        or_(
            *(
                (col(Proposal.channel_id) == channel) & col(Proposal.message_ts).in_(sorted(tss))
                for channel, tss in by_channel.items()
            )
        )
    )
    return {
        (channel or "", ts or ""): (int(pid), status)
        for pid, status, channel, ts in session.exec(statement)
        if pid is not None
    }


def add_vote_once(*, session: Session, proposal_id: int, user_id: str) -> bool:
    """Record a vote without a savepoint; False when this person had already voted.

    No savepoints anywhere in this module: on SQLite a savepoint that opens a unit of work
    commits on release, so a later failure would leave half of the work stored."""
    return _insert_new(
        session,
        Vote,
        {"proposal_id": proposal_id, "user_id": user_id, "created_at": utcnow()},
        ["proposal_id", "user_id"],
    )


def has_audit(*, session: Session, proposal_id: int, actor: str, action: str) -> bool:
    """True when the proposal's history has an entry of `action` by `actor`."""
    statement = select(AuditEntry.id).where(
        AuditEntry.proposal_id == proposal_id,
        AuditEntry.actor == actor,
        AuditEntry.action == action,
    )
    return session.exec(statement.limit(1)).first() is not None


def voters(*, session: Session, proposal_id: int) -> list[str]:
    """Who voted for this proposal."""
    return list(session.exec(select(Vote.user_id).where(Vote.proposal_id == proposal_id)))


def remove_vote(*, session: Session, proposal_id: int, user_id: str) -> bool:
    """Withdraw a vote; False when there was none."""
    result: Any = session.execute(
        delete(Vote).where(col(Vote.proposal_id) == proposal_id, col(Vote.user_id) == user_id)
    )
    return bool(result.rowcount)


def link_related(*, session: Session, proposal_id: int, related_id: int) -> None:
    """Remember that two proposals are related (idempotent)."""
    _insert_new(
        session,
        ProposalLink,
        {"proposal_id": proposal_id, "related_id": related_id, "created_at": utcnow()},
        ["proposal_id", "related_id"],
    )


def related_ids(*, session: Session, proposal_id: int) -> list[int]:
    """IDs linked to this proposal in either direction."""
    forward = select(ProposalLink.related_id).where(ProposalLink.proposal_id == proposal_id)
    backward = select(ProposalLink.proposal_id).where(ProposalLink.related_id == proposal_id)
    return sorted(set(session.exec(forward)) | set(session.exec(backward)))


def audit(
    *,
    session: Session,
    proposal_id: int,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to the proposal's history."""
    entry = AuditEntry(
        proposal_id=proposal_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        detail=detail or {},
    )
    session.add(entry)
    return entry


def history(*, session: Session, proposal_id: int) -> list[AuditEntry]:
    """The proposal's history, oldest first."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.proposal_id == proposal_id)
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
    )
    return list(session.exec(statement))


def last_entry(*, session: Session, proposal_id: int, action: str) -> AuditEntry | None:
    """The proposal's latest history entry of `action`, or None (its history may be long:
    every vote is in it)."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.proposal_id == proposal_id, AuditEntry.action == action)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def claim_job_run(*, session: Session, job: str, period: str) -> bool:
    """Claim the run of `job` for `period`; False when another replica already has it."""
    return _insert_new(
        session, JobRun, {"job": job, "period": period, "started_at": utcnow()}, ["job", "period"]
    )


def ask_benefit_once(
    *, session: Session, proposal_id: int, due_from: datetime, owner: str, now: datetime
) -> bool:
    """Record that the owner of an implemented proposal is asked for its measured result, for
    the round that began at `due_from`; False when another replica asked first."""
    values = {
        "proposal_id": proposal_id,
        "due_from": due_from,
        "owner": owner,
        "asked_at": now,
        "reminded_at": now,
    }
    return _insert_new(session, BenefitCheck, values, ["proposal_id", "due_from"])


def proposals_waiting_for_objective(
    *, session: Session, created_before: datetime
) -> list[Proposal]:
    """One-line proposals still without an objective, older than the given moment."""
    statement = (
        select(Proposal)
        .where(Proposal.status == "needs_objective", col(Proposal.created_at) < created_before)
        .order_by(col(Proposal.id))
    )
    return list(session.exec(statement))


def proposals_on(
    *, session: Session, service: str, objective_id: int, statuses: Sequence[str]
) -> list[Proposal]:
    """Proposals on this service (case-insensitive) serving this objective, newest first."""
    statement = (
        select(Proposal)
        .where(
            func.lower(Proposal.service) == service.strip().lower(),
            Proposal.objective_id == objective_id,
            col(Proposal.status).in_(list(statuses)),
        )
        .order_by(col(Proposal.id).desc())
    )
    return list(session.exec(statement))


def save_pending_draft(*, session: Session, key: str, user_id: str, draft: dict[str, Any]) -> None:
    """Hold a submitted form while its author decides about similar proposals."""
    session.merge(PendingDraft(key=key, user_id=user_id, draft=draft))


def hold_draft(*, session: Session, key: str, user_id: str, draft: dict[str, Any]) -> bool:
    """Hold a form under `key` as the first write of the unit of work; False when the key is
    held already (the unit of work is then rolled back). The unique key makes a concurrent
    copy wait for the first and then fail here."""
    session.add(PendingDraft(key=key, user_id=user_id, draft=draft))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


def take_pending_draft(*, session: Session, key: str, user_id: str) -> PendingDraft | None:
    """The user's held form, removed from the store (so it is used once); None if not theirs."""
    pending = session.get(PendingDraft, key)
    if pending is None or pending.user_id != user_id:
        return None
    # A conditional delete, not session.delete(): of two copies of the same choice arriving at
    # once, the one that deletes the row takes the form; the other finds nothing to take.
    result: Any = session.execute(
        delete(PendingDraft)
        .where(col(PendingDraft.key) == key, col(PendingDraft.user_id) == user_id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(pending)
    return pending if result.rowcount == 1 else None


def forget_events(*, session: Session, before: datetime) -> int:
    """Delete handled-event IDs received before the given moment; returns how many."""
    result: Any = session.execute(
        delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < before)
    )
    return int(result.rowcount or 0)


def forget_pending_drafts(*, session: Session, before: datetime) -> int:
    """Delete held forms older than the given moment; returns how many."""
    result: Any = session.execute(delete(PendingDraft).where(col(PendingDraft.created_at) < before))
    return int(result.rowcount or 0)
