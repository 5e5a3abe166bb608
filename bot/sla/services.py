"""Services: the names proposals, targets and measurements share."""

from __future__ import annotations

from sqlmodel import Session

from bot.drafts import one_line, text_problem
from storage import sla_repository as repo
from storage.sla_tables import SERVICE_MAX, Service


def service_name_problem(name: str) -> str | None:
    """Why `name` cannot name a service, or None."""
    problem = text_problem(name, limit=None)
    if problem:
        return problem
    name = one_line(name)
    if not name:
        return "the service is empty"
    if len(name) > SERVICE_MAX:
        return f"the service name is {len(name)} characters; the limit is {SERVICE_MAX}"
    return None


def ensure(*, session: Session, name: str) -> Service:
    """The service of this name, created when new (check the name with service_name_problem)."""
    return repo.ensure_service(session=session, name=one_line(name))


def known_names(*, session: Session) -> list[str]:
    """The names of every known service, alphabetically."""
    return [service.name for service in repo.list_services(session=session)]
