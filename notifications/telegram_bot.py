"""The bot the service talks to Telegram with: PTB's `ExtBot`, answering each callback query once.

Every `answerCallbackQuery` goes through here, whichever handler calls it: the query is recorded
(`models.inbound.begin_answer`) before the call and marked answered after, so an update that runs
again after a crash between its answer and its `finish`, or a handler's fallback answer after the
press was answered, does not answer the same press a second time. When Telegram refuses the answer
(nothing reached the user), the record is dropped so that a later answer may go.

A press whose decision recorded its answer in the decision's own transaction (`done_with(...,
answers=...)`, which also marks the update done) is answered with no commit here: the first answer
of that query after the commit is the recorded one, any later one finds the record.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from models.inbound import PROCESSING, answered, begin_answer, forget_answer

log = logging.getLogger(__name__)


class AnswerOnceBot(ExtBot[Any]):
    """`ExtBot` whose `answer_callback_query` answers a given query at most once."""

    async def answer_callback_query(
        self, callback_query_id: str, *args: Any, **kwargs: Any
    ) -> bool:
        """Answer the query unless it was answered (or its answer begun) already."""
        query_id = str(callback_query_id)
        current = PROCESSING.get()
        recorded = current is not None and current.answering == query_id
        if recorded:
            assert current is not None
            current.answering = None  # the record covers one answer
        elif not await begin_answer(query_id):
            log.info("callback query %s was answered already; not answering again", query_id)
            return True
        try:
            result = await super().answer_callback_query(callback_query_id, *args, **kwargs)
        except (BadRequest, Forbidden):
            # Telegram said no: the user saw nothing
            await forget_answer(query_id, recorded_answered=recorded)
            raise
        if not recorded:
            await answered(query_id)
        return bool(result)
