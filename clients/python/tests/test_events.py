"""Event parsing: known types typed, unknown types and fields passed through, never dropped."""

from __future__ import annotations

from voxpace.events import PlaybackFinished, SourceFailed, UnknownEvent, parse_event


def test_a_known_event_is_typed_and_keeps_unknown_fields() -> None:
    ev = parse_event(
        "playback_finished",
        '{"type": "playback_finished", "reply": 3, "played_ms": 812.5, "played_samples": 19500,'
        ' "interrupted": true, "heard_text": "Hello", "new_field": 1}',
        "17",
    )
    assert isinstance(ev, PlaybackFinished)
    assert (ev.reply, ev.played_ms, ev.interrupted, ev.heard_text) == (3, 812.5, True, "Hello")
    assert ev.event_id == "17" and ev.raw["new_field"] == 1


def test_an_unknown_event_type_is_passed_through() -> None:
    ev = parse_event("avatar_blinked", '{"type": "avatar_blinked", "eye": "left"}')
    assert isinstance(ev, UnknownEvent)
    assert ev.type == "avatar_blinked" and ev.data == {"type": "avatar_blinked", "eye": "left"}


def test_ids_may_be_numbers_or_names_and_missing_fields_default() -> None:
    by_number = parse_event("source_failed", '{"source": 2, "reason": "eof"}')
    by_name = parse_event("source_failed", '{"source": "music", "file": "music.wav"}')
    assert isinstance(by_number, SourceFailed) and by_number.source == 2 and by_number.file is None
    assert isinstance(by_name, SourceFailed) and by_name.source == "music"


def test_data_that_is_not_json_is_kept() -> None:
    ev = parse_event("message", "not json")
    assert isinstance(ev, UnknownEvent) and ev.data == {"data": "not json"}
