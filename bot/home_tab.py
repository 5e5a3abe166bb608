"""Publishing a person's Home tab: the one place the Home tab reaches Slack.

Runs after the ack (`deps.later`) and never raises: a Home tab that cannot be published now is
published again the next time its owner opens it.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import home, objectives
from bot.blocks.home import home_view
from bot.deps import Deps
from bot.notify import UNREACHABLE
from storage.models import Objective

log = logging.getLogger(__name__)


def build(
    deps: Deps, user_id: str, figures: home.RegisterFigures | None = None
) -> dict[str, object]:
    """The Home tab of `user_id`, read with bounded queries (the register's figures read here
    unless given)."""
    steering = deps.steering.is_member(user_id)
    with deps.session() as session:
        content = home.home_content(
            session=session,
            viewer=user_id,
            steering=steering,
            timezone=deps.settings.timezone,
            figures=figures,
        )
        choices: list[Objective] = []
        if content.needs_objective.items:
            # One more than a list holds says whether the select must search as you type.
            choices = objectives.search(session=session, query="", limit=objectives.OPTIONS_MAX + 1)
    return home_view(content, objectives=choices, vote_emoji=deps.settings.vote_emoji)


def publish(
    deps: Deps, client: WebClient, user_id: str, figures: home.RegisterFigures | None = None
) -> None:
    """Publish (or refresh) the Home tab of `user_id` (with the register's figures, if given,
    read for several Home tabs at once: `read_figures`)."""
    try:
        view = build(deps, user_id, figures)
    except SQLAlchemyError as exc:
        log.warning("Home tab of %s not published, the database failed: %s", user_id, exc)
        return
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        log.warning("Home tab of %s not published: %s", user_id, exc.response.get("error"))
    except UNREACHABLE as exc:
        log.warning("Home tab of %s not published: %s", user_id, exc)


def read_figures(deps: Deps) -> home.RegisterFigures | None:
    """The register's figures for Home tabs published together; None when the database failed
    (each Home tab then tries on its own)."""
    try:
        with deps.session() as session:
            return home.register_figures(session=session, timezone=deps.settings.timezone)
    except SQLAlchemyError as exc:
        log.warning("Home tabs' figures not read, the database failed: %s", exc)
        return None
