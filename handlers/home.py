"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks, proposals
from bot.deps import Deps
from bot.middleware import payload
from bot.payloads import HomeOpened
from handlers.replies import call_later
from storage import repositories as repo


def register(app: App, deps: Deps) -> None:
    """Publish the viewer's home when they open it."""

    @app.event("app_home_opened")
    def home_opened(context: dict[str, Any], client: WebClient) -> None:
        opened = payload(context, HomeOpened)
        if opened.tab != "home":
            return
        with deps.session() as session:
            mine = proposals.summarise(
                session=session,
                proposals=repo.list_proposals(session=session, submitter=opened.user_id),
            )
            objectives = repo.list_objectives(session=session)
        view = blocks.home_view(
            mine=mine, objectives=objectives, vote_emoji=deps.settings.vote_emoji
        )
        call_later(
            deps, "home not published", client.views_publish, user_id=opened.user_id, view=view
        )
