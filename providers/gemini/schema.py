"""JSON Schema → the OpenAPI 3.0 subset Gemini's ``Schema`` accepts.

Gemini reads ``type`` (STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT),
``format``, ``title``, ``description``, ``nullable``, ``enum`` (strings),
``properties``, ``required``, ``items``, ``anyOf``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``pattern``, ``minimum``/``maximum``,
``minProperties``/``maxProperties``, ``propertyOrdering``, ``example`` and
``default``. What OpenAI tool schemas use beyond that is translated:

- ``$ref`` into ``$defs``/``definitions`` is inlined (a recursive one is refused);
- ``type: [T, "null"]`` → ``type: T, nullable: true``; other type lists → ``anyOf``;
- ``oneOf`` → ``anyOf``; ``allOf`` is merged into one object; ``{"type": "null"}``
  members of a union make the rest nullable;
- ``const: "x"`` → ``enum: ["x"]``; ``enum`` of non-strings is dropped;
- formats Gemini does not know are dropped (STRING keeps enum and date-time,
  NUMBER float and double, INTEGER int32 and int64);
- everything else (``additionalProperties``, ``$schema``, ``strict``,
  ``examples``, ``not``, ``if``/``then``, ...) is dropped.
"""

from __future__ import annotations

from typing import Any

from providers.errors import InvalidRequestError

__all__ = ["to_gemini_schema"]

_COPIED = (
    "title",
    "description",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "propertyOrdering",
    "example",
    "default",
)
_FORMATS = {
    "STRING": {"enum", "date-time"},
    "NUMBER": {"float", "double"},
    "INTEGER": {"int32", "int64"},
}
_MAX_DEPTH = 48


def to_gemini_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _convert(schema, defs, where, 0, ())


def _fail(where: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{where}: {why}", param=where)


def _resolve(
    node: dict[str, Any], defs: dict[str, Any], where: str, refs: tuple[str, ...]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    ref = node["$ref"]
    name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
    if not isinstance(ref, str) or not ref.startswith("#/") or name not in defs:
        raise _fail(where, f"unknown $ref {ref!r}")
    if name in refs:
        raise _fail(where, f"the recursive $ref {ref!r} cannot be expressed for gemini")
    return {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}, (*refs, name)


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for sub in node["allOf"]:
        if not isinstance(sub, dict):
            continue
        for key, value in sub.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _convert(
    node: Any, defs: dict[str, Any], where: str, depth: int, refs: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _fail(where, "a schema must be a JSON object")
    if depth > _MAX_DEPTH:
        raise _fail(where, "the schema is nested too deeply")
    if "$ref" in node:
        node, refs = _resolve(node, defs, where, refs)
    if isinstance(node.get("allOf"), list):
        node = _merge_all_of(node)
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) > 1:
            variants = [{**node, "type": k} for k in kinds]
            out["anyOf"] = [_convert(v, defs, where, depth + 1, refs) for v in variants]
            return out
        kind = kinds[0] if kinds else None
    union = node.get("anyOf") if node.get("anyOf") is not None else node.get("oneOf")
    if isinstance(union, list):
        members = [m for m in union if not (isinstance(m, dict) and m.get("type") == "null")]
        if len(members) < len(union):
            out["nullable"] = True
        converted = [
            _convert(m, defs, f"{where}.anyOf[{i}]", depth + 1, refs) for i, m in enumerate(members)
        ]
        if len(converted) == 1:
            out.update(converted[0])
        elif converted:
            out["anyOf"] = converted
    if isinstance(kind, str) and kind != "null":
        out["type"] = kind.upper()
    if node.get("nullable") is True:
        out["nullable"] = True
    for key in _COPIED:
        if key in node:
            out[key] = node[key]
    _copy_enum(node, out)
    if node.get("format") in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = node["format"]
    properties = node.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: _convert(sub, defs, f"{where}.properties.{name}", depth + 1, refs)
            for name, sub in properties.items()
        }
        required = [r for r in node.get("required") or () if r in properties]
        if required:
            out["required"] = list(dict.fromkeys(required))
    items = node.get("items")
    if isinstance(items, list):
        items = items[0] if items else None
    if isinstance(items, dict):
        out["items"] = _convert(items, defs, f"{where}.items", depth + 1, refs)
    return out


def _copy_enum(node: dict[str, Any], out: dict[str, Any]) -> None:
    values = node.get("enum")
    if "const" in node:
        values = [node["const"]]
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        out["enum"] = list(values)
        out.setdefault("type", "STRING")
