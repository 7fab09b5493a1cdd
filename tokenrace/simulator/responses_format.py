"""The bytes of the OpenAI Responses API stream (``POST /v1/responses``). Pure: no I/O, no sleeping.

Named events, ``event:`` = ``data.type``, compact JSON, ``sequence_number`` from 0, no ``[DONE]``:
exactly one terminal event (``response.completed`` / ``.incomplete`` / ``.failed``). Shapes and key
order follow ``fixtures/streams/openai_responses_*.sse``.
"""
from __future__ import annotations

from typing import Any

from .base import HEX, Encoder, StreamContext, compact, rand_str, sse


class OpenAIResponsesEncoder(Encoder):
    """A reasoning item (summary deltas only when the request asked for a summary), then the message item."""

    wire = "openai_responses"
    content_type = "text/event-stream; charset=utf-8"
    default_model = "gpt-4.1-mini-2025-04-14"
    reasoning_shape = True
    reasoning_counts_in_max = True            # max_output_tokens covers reasoning tokens too
    finish_words = ("completed", "max_output_tokens", "content_filter")
    malformed_event = "response.output_text.delta"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "resp_" + rand_str(self.rng, 50, HEX)
        self.rs_id = "rs_" + rand_str(self.rng, 50, HEX)
        self.msg_id = "msg_" + rand_str(self.rng, 50, HEX)
        self.seq = 0
        self.summary: str | None = None       # the open summary part's text (None: no part open)
        self.reasoning_item: dict[str, Any] | None = None   # set once the reasoning item is done
        self.message_open = False
        self.text = ""

    # ------------------------------------------------------------------ pieces
    def _event(self, type_: str, **fields: Any) -> bytes:
        obj = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        return sse(compact(obj), event=type_)

    def _obfuscation(self) -> str:
        return rand_str(self.rng, self.rng.randint(3, 12))

    @property
    def _msg_index(self) -> int:
        return 1 if self.ctx.has_reasoning else 0

    def _response(self, status: str, output: list[Any], usage: dict[str, Any] | None,
                  error: dict[str, Any] | None = None, incomplete: str | None = None) -> dict[str, Any]:
        e = self.ctx.echo
        reasoning = e.get("reasoning") or {}
        return {"id": self.id, "object": "response", "created_at": self.ctx.created, "status": status,
                "background": False, "error": error,
                "incomplete_details": None if incomplete is None else {"reason": incomplete},
                "instructions": e.get("instructions"), "max_output_tokens": e.get("max_output_tokens"),
                "max_tool_calls": None, "model": self.ctx.model, "output": output, "parallel_tool_calls": True,
                "previous_response_id": None, "prompt_cache_key": None, "prompt_cache_retention": None,
                "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
                "safety_identifier": None, "service_tier": "auto", "store": e.get("store", True),
                "temperature": e.get("temperature", 1), "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": e.get("top_p", 1),
                "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}

    def _usage(self) -> dict[str, Any]:
        p, r = self.ctx.prompt_tokens, self.reasoning_tokens
        return {"input_tokens": p, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": self.output_tokens, "output_tokens_details": {"reasoning_tokens": r},
                "total_tokens": p + self.output_tokens}

    def _part(self) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": self.text}

    def _message_item(self, status: str) -> dict[str, Any]:
        content = [] if status == "in_progress" else [self._part()]
        return {"id": self.msg_id, "type": "message", "status": status, "content": content, "role": "assistant"}

    # ------------------------------------------------------------------ reasoning item
    def _close_reasoning(self) -> list[bytes]:
        if not self.ctx.has_reasoning or self.reasoning_item is not None:
            return []
        out, summary = [], []
        if self.summary is not None:
            ids = {"item_id": self.rs_id, "output_index": 0, "summary_index": 0}
            out += [self._event("response.reasoning_summary_text.done", **ids, text=self.summary),
                    self._event("response.reasoning_summary_part.done", **ids,
                                part={"type": "summary_text", "text": self.summary})]
            summary = [{"type": "summary_text", "text": self.summary}]
        self.reasoning_item = {"id": self.rs_id, "type": "reasoning", "summary": summary}
        return out + [self._event("response.output_item.done", output_index=0, item=self.reasoning_item)]

    def opening(self) -> list[bytes]:
        out = [self._event("response.created", response=self._response("in_progress", [], None)),
               self._event("response.in_progress", response=self._response("in_progress", [], None))]
        if self.ctx.has_reasoning:
            out.append(self._event("response.output_item.added", output_index=0,
                                   item={"id": self.rs_id, "type": "reasoning", "summary": []}))
        return out

    def _reasoning(self, text: str) -> list[bytes]:
        if not self.ctx.reasoning_visible:
            return []                       # no summary asked for: the model thinks in silence
        ids = {"item_id": self.rs_id, "output_index": 0, "summary_index": 0}
        out = []
        if self.summary is None:
            self.summary = ""
            out.append(self._event("response.reasoning_summary_part.added", **ids,
                                   part={"type": "summary_text", "text": ""}))
        self.summary += text
        return out + [self._event("response.reasoning_summary_text.delta", **ids, delta=text,
                                  obfuscation=self._obfuscation())]

    # ------------------------------------------------------------------ message item
    def _open_message(self) -> list[bytes]:
        self.message_open = True
        return self._close_reasoning() + [
            self._event("response.output_item.added", output_index=self._msg_index,
                        item=self._message_item("in_progress")),
            self._event("response.content_part.added", item_id=self.msg_id, output_index=self._msg_index,
                        content_index=0, part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        out = [] if self.message_open else self._open_message()
        self.text += text
        return out + [self._event("response.output_text.delta", item_id=self.msg_id, output_index=self._msg_index,
                                  content_index=0, delta=text, logprobs=[], obfuscation=self._obfuscation())]

    def _output(self, status: str) -> list[Any]:
        items: list[Any] = [self.reasoning_item] if self.reasoning_item is not None else []
        return items + ([self._message_item(status)] if self.message_open else [])

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        word = self.finish_word()
        status = "completed" if word == "completed" else "incomplete"
        out = self._close_reasoning()
        if self.message_open:
            ids = {"item_id": self.msg_id, "output_index": self._msg_index, "content_index": 0}
            out += [self._event("response.output_text.done", **ids, text=self.text, logprobs=[]),
                    self._event("response.content_part.done", **ids, part=self._part()),
                    self._event("response.output_item.done", output_index=self._msg_index,
                                item=self._message_item(status))]
        resp = self._response(status, self._output(status), self._usage(),
                              incomplete=None if status == "completed" else word)
        return out + [self._event(f"response.{status}", response=resp)]

    def error_after(self) -> list[bytes]:
        """An ``error`` event (the nested form of recorded traffic), then ``response.failed``."""
        code, message = "server_error", ("The server had an error processing your request. Sorry about that! "
                                         "You can retry your request, or contact us through our help center at "
                                         "help.openai.com if you keep seeing this error.")
        err = self._event("error", error={"type": "server_error", "code": code, "message": message, "param": None})
        failed = self._response("failed", [], None, error={"code": code, "message": message})
        return [err, self._event("response.failed", response=failed)]
