"""Posting and refreshing a proposal's channel card: the one place cards reach Slack."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks, proposals
from bot.deps import Deps

log = logging.getLogger(__name__)


def post_card(*, deps: Deps, client: WebClient, proposal_id: int) -> bool:
    """Post the card to the proposals channel once and remember where; False if Slack refused.

    A card posted before is redrawn instead, so an edited proposal shows its new fields.
    """
    channel = deps.settings.proposals_channel
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
    if summary.proposal.message_ts:
        refresh_card(deps=deps, client=client, proposal_id=proposal_id)
        return True
    if not channel:
        return False
    text, card = blocks.proposal_card(summary, vote_emoji=deps.settings.vote_emoji)
    try:
        posted = client.chat_postMessage(
            channel=channel, text=text, blocks=card, unfurl_links=False, unfurl_media=False
        )
    except SlackApiError as exc:
        log.error(
            "could not post the card of #%s to %s: %s",
            proposal_id,
            channel,
            exc.response.get("error"),
        )
        return False
    permalink = None
    try:
        permalink = client.chat_getPermalink(
            channel=posted["channel"], message_ts=posted["ts"]
        ).get("permalink")
    except SlackApiError as exc:
        log.warning("no permalink for #%s: %s", proposal_id, exc.response.get("error"))
    with deps.session() as session:
        proposals.attach_card(
            session=session,
            proposal_id=proposal_id,
            channel_id=posted["channel"],
            message_ts=posted["ts"],
            permalink=permalink,
        )
    return True


def refresh_card(*, deps: Deps, client: WebClient, proposal_id: int) -> None:
    """Redraw the card (after a vote or a status change), if it was posted."""
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
    proposal = summary.proposal
    if not (proposal.channel_id and proposal.message_ts):
        return
    text, card = blocks.proposal_card(summary, vote_emoji=deps.settings.vote_emoji)
    try:
        client.chat_update(
            channel=proposal.channel_id, ts=proposal.message_ts, text=text, blocks=card
        )
    except SlackApiError as exc:
        log.warning("could not update the card of #%s: %s", proposal_id, exc.response.get("error"))
