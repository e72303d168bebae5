"""A fake judge model behind an OpenAI-compatible endpoint, for arithmetic questions.

It reads Arbiter's judge prompts and answers like a careful judge would: an
answer is right when it states the question's true result. Pairwise, it prefers
the right answer (a tie when both or neither are right); pointwise, it scores 1
or 0. With ``biased = True`` it always prefers whichever answer is shown first,
the position bias that swapping positions must cancel. Every call is recorded.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_QUESTION = re.compile(r"(-?\d+)\s*([-+*])\s*(-?\d+)")
_BLOCK = re.compile(r"\[Answer( [AB])?\]\n(.*?)\n\[End of answer", re.DOTALL)


def _truth(question: str) -> int | None:
    match = _QUESTION.search(question)
    if not match:
        return None
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    return a + b if op == "+" else a - b if op == "-" else a * b


def _right(answer: str, truth: int | None) -> bool:
    numbers = re.findall(r"-?\d+", answer)
    return truth is not None and bool(numbers) and int(numbers[-1]) == truth


class FakeJudge:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.biased = False
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    def reset(self) -> None:
        self.calls.clear()
        self.biased = False

    def verdict(self, prompt: str) -> str:
        question = prompt.split("Question:\n", 1)[-1].split("\n", 1)[0]
        truth = _truth(question)
        answers = {(label or "").strip(): text for label, text in _BLOCK.findall(prompt)}
        if "Score the answer" in prompt:
            return "1" if _right(answers.get("", ""), truth) else "0"
        if self.biased:
            return "[[A]]"
        a, b = _right(answers.get("A", ""), truth), _right(answers.get("B", ""), truth)
        return "[[A]]" if a and not b else "[[B]]" if b and not a else "[[TIE]]"

    async def chat(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        self.calls.append(body)
        prompt = body["messages"][-1]["content"]
        text = self.verdict(prompt)
        return JSONResponse(
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53},
            }
        )
