"""Options of the selects that search as you type (`external_select`): the objectives.

Slack asks while the person types; the answer is the ack itself, read with one bounded query.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import objectives
from bot.blocks.objectives import options_answer
from bot.deps import Deps
from bot.ids import ActionId, BlockId
from bot.middleware import payload
from bot.payloads import OptionsRequest


def register(app: App, deps: Deps) -> None:
    """Wire the objective selects of the proposal form, the objective question and the Home tab."""

    def answer(ack: Ack, context: dict[str, Any]) -> None:
        asked = payload(context, OptionsRequest)
        if asked.action_id == ActionId.MANAGE_OBJECTIVE and not deps.steering.is_member(
            asked.user_id
        ):
            # Only the steering group edits objectives; nobody else is offered any to edit.
            ack(options=[])
            return
        with deps.session() as session:
            found = objectives.search(session=session, query=asked.query)
        ack(options=options_answer(found))

    app.options({"block_id": BlockId.OBJECTIVE, "action_id": ActionId.INPUT})(answer)
    app.options(ActionId.CHOOSE_OBJECTIVE)(answer)
    app.options(ActionId.MANAGE_OBJECTIVE)(answer)
