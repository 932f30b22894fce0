"""Merge rules and validation for tickets (sync_protocol.tickets)."""

from __future__ import annotations

import pytest

from sync_protocol.errors import InvalidField
from sync_protocol.tickets import (
    TRANSITIONS,
    check_transition,
    decide_status,
    merge_fields,
    ticket_number,
    validate_clerk_changes,
    validate_hq_changes,
)


def test_later_hlc_wins_a_field() -> None:
    winners, losers = merge_fields({"title": "0002"}, {"title": "new"}, "0003")
    assert winners == {"title": "new"}
    assert losers == []


def test_earlier_hlc_loses_a_field_and_is_reported_superseded() -> None:
    winners, losers = merge_fields({"title": "0005"}, {"title": "old"}, "0003")
    assert winners == {}
    assert losers == ["title"]


def test_edits_of_different_fields_both_survive() -> None:
    held = {"title": "0005"}
    winners, losers = merge_fields(held, {"description": "d", "title": "t"}, "0003")
    assert winners == {"description": "d"}
    assert losers == ["title"]


def test_field_never_written_accepts_any_edit() -> None:
    winners, _ = merge_fields({}, {"category": "jeans"}, "0001")
    assert winners == {"category": "jeans"}


def test_clerk_cannot_set_hq_only_fields() -> None:
    with pytest.raises(InvalidField) as info:
        validate_clerk_changes({"assignee": "li.lei"})
    assert info.value.field == "assignee"
    assert info.value.code == "hq_only_field"


def test_clerk_edit_of_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidField) as info:
        validate_clerk_changes({"colour": "red"})
    assert info.value.code == "unknown_field"


def test_title_cannot_be_blanked() -> None:
    with pytest.raises(InvalidField) as info:
        validate_clerk_changes({"title": "   "})
    assert (info.value.field, info.value.code) == ("title", "required")


def test_hq_may_set_department_assignee_and_priority() -> None:
    assert validate_hq_changes({"department": "qc", "priority": "high", "title": " x "}) == {
        "department": "qc",
        "priority": "high",
        "title": "x",
    }


def test_unknown_priority_is_refused() -> None:
    with pytest.raises(InvalidField) as info:
        validate_hq_changes({"priority": "asap"})
    assert info.value.code == "invalid_choice"


def test_closed_ticket_cannot_be_resolved() -> None:
    with pytest.raises(InvalidField) as info:
        check_transition("closed", "resolved")
    assert info.value.code == "invalid_transition"


def test_resolved_ticket_can_be_reopened_or_closed() -> None:
    check_transition("resolved", "in_progress")
    check_transition("resolved", "closed")


def test_every_transition_target_is_a_known_status() -> None:
    for targets in TRANSITIONS.values():
        assert targets <= set(TRANSITIONS)


def test_status_change_later_than_the_held_one_applies() -> None:
    assert decide_status("new", "0001", "in_progress", "0002") == "apply"


def test_status_change_earlier_than_the_held_one_is_superseded_even_if_not_allowed_now() -> None:
    assert decide_status("closed", "0005", "resolved", "0003") == "superseded"


def test_status_change_to_a_forbidden_status_is_refused() -> None:
    with pytest.raises(InvalidField):
        decide_status("closed", "0001", "resolved", "0002")


@pytest.mark.parametrize(
    ("code", "node_no", "counter", "expected"),
    [("SH012", 1, 123, "SH012-000123"), ("SH012", 2, 45, "SH012-2-000045")],
)
def test_ticket_number_is_store_code_and_node_sequence(code: str, node_no: int, counter: int, expected: str) -> None:
    assert ticket_number(code, node_no, counter) == expected
