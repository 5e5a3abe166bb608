"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks, proposals
from bot.deps import Deps
from storage import repositories as repo


def register(app: App, deps: Deps) -> None:
    """Publish the viewer's home when they open it."""

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        with deps.session() as session:
            mine = proposals.summarise(
                session=session, proposals=repo.list_proposals(session=session, submitter=user_id)
            )
            objectives = repo.list_objectives(session=session)
        client.views_publish(
            user_id=user_id,
            view=blocks.home_view(
                mine=mine, objectives=objectives, vote_emoji=deps.settings.vote_emoji
            ),
        )
