"""An upgrade keeps everyone's cache: a request's key is the one key version 2 has
always given it, however the key is computed."""

from __future__ import annotations

import hashlib

import orjson

from cache.keys import KEY_VERSION, cache_key, canonical_fields
from gateway.api.chat import parse_chat_request
from providers.types import ChatRequest

PLAIN = parse_chat_request(
    orjson.dumps(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Capital?"}],
            "temperature": 1,
            "user": "u1",
            "stream": True,
        }
    )
)
WITH_MODELS = ChatRequest.model_validate(
    {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "x": None}},
            }
        ],
        "max_tokens": 5,
    }
)
DIRECT = '["m",[["openai","gpt-x"]],[]]'
ROUTED = '["m","routed",["a","b"]]'


def test_keys_are_the_ones_version_2_gave_before_this_release() -> None:
    assert KEY_VERSION == 2
    for _ in range(2):  # the first key of a model and scope, then one from their kept parts
        assert (
            cache_key(PLAIN, model=DIRECT, scope="master")
            == "8dd92b1b33b5189ff4b8e955280e93804dc68eeef25b66e2ea64791f85aed267"
        )
        assert (
            cache_key(WITH_MODELS, model=ROUTED, scope="key:team é")
            == "fc174b1b3ba7555badd663ff3d1521b0e9a63421d8305607872ad53ad9546224"
        )


def test_a_key_is_the_hash_of_the_whole_canonical_json() -> None:
    for request, model, scope in [(PLAIN, ROUTED, "global"), (WITH_MODELS, DIRECT, "key:ops")]:
        canonical = orjson.dumps(
            {
                "v": KEY_VERSION,
                "scope": scope,
                "model": model,
                "request": canonical_fields(request),
            },
            option=orjson.OPT_SORT_KEYS,
        )
        expected = hashlib.blake2b(canonical, digest_size=32).hexdigest()
        assert cache_key(request, model=model, scope=scope) == expected


def test_the_same_question_under_another_model_or_scope_has_another_key() -> None:
    keys = {
        cache_key(PLAIN, model=model, scope=scope)
        for model in (DIRECT, ROUTED)
        for scope in ("master", "global", "key:master")
    }
    assert len(keys) == 6
