"""The client's event and error types follow the server's ``/openapi.json``: a field, an event
type or an error kind the document has and the client does not (or the other way round)
fails here, so the two cannot drift apart silently."""

from __future__ import annotations

from typing import Any

import voxpace
from voxpace.errors import KINDS
from voxpace.events import EVENT_TYPES, payload_fields

ERROR_FIELDS = {"error", "message", "kind"}
"""What ``voxpace.errors.api_error`` reads from an error body."""

REPLY_FIELDS = {"output", "reply", "state", "accepted_ms", "incomplete", "outcome"}
"""A refused reply's answer also says where the reply stands (``voxpace.ReplyState``)."""

CORE_EVENTS = {"hello", "speech_started", "text_played", "playback_finished", "output_ended"}
"""Events every client relies on: the document must describe them."""


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def properties(doc: dict[str, Any], schema: Any) -> dict[str, Any]:
    """A schema's properties, with those of its ``allOf`` parts."""
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return {}
    props = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        props.update(properties(doc, part))
    return props


def event_schemas(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Every schema whose ``type`` property is one constant: event name -> its fields."""
    found: dict[str, set[str]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            props = properties(doc, node) if ("properties" in node or "allOf" in node) else {}
            t = resolve(doc, props.get("type"))
            if isinstance(t, dict):
                names = [t["const"]] if "const" in t else t.get("enum") or []
                if len(names) == 1 and isinstance(names[0], str):
                    # An event's schema is the union of its parts (``allOf``): the part
                    # that only names the type, visited on its own, adds nothing.
                    found[names[0]] = found.get(names[0], set()) | (set(props) - {"type"})
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(doc)
    return found


async def test_events_follow_the_openapi_document(client: voxpace.VoxpaceClient) -> None:
    doc = await client.openapi()
    schemas = event_schemas(doc)
    assert schemas, "the document describes each event of the stream (StreamEvent)"
    unknown = set(schemas) - set(EVENT_TYPES)
    assert not unknown, f"events the document describes and the client lacks: {unknown}"
    missing = set(EVENT_TYPES) - set(schemas)
    assert not missing, f"events the client knows and the document lacks: {missing}"
    assert CORE_EVENTS <= set(schemas), f"undocumented: {CORE_EVENTS - set(schemas)}"
    for name, fields in schemas.items():
        assert fields == payload_fields(EVENT_TYPES[name]), f"{name}: fields drifted"


async def test_errors_follow_the_openapi_document(client: voxpace.VoxpaceClient) -> None:
    doc = await client.openapi()
    refs = set()
    for path in doc["paths"].values():
        for op in path.values():
            for status, response in (op.get("responses") or {}).items():
                if status.startswith(("4", "5")):
                    for media in (response.get("content") or {}).values():
                        refs.add(str(media.get("schema", {}).get("$ref", "")))
    refs.discard("")
    assert refs, "the document describes its error bodies"
    for ref in refs:
        schema = resolve(doc, {"$ref": ref})
        props = properties(doc, schema)
        assert set(props) <= ERROR_FIELDS | REPLY_FIELDS, f"{ref}: {set(props)}"
        assert {"error", "message"} <= set(schema.get("required", [])) | set(props)
        kind = resolve(doc, props.get("kind"))
        if isinstance(kind, dict) and kind.get("enum"):
            assert set(kind["enum"]) == set(KINDS), "error kinds in the document vs the client"

