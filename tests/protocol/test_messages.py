"""Wire messages round-trip and evolve by msgspec's rules."""

from __future__ import annotations

import msgspec
import pytest

from sync_protocol.entities import decode_entity, encode_entity
from sync_protocol.errors import UnknownOpKind
from sync_protocol.messages import (
    Change,
    PushRequest,
    decode_cursor,
    encode_cursor,
    msgpack_encoder,
    push_request_decoder,
)
from sync_protocol.ops import Op, TicketCreate, TicketSet, decode_payload, encode_payload, kind_of, uuid7
from sync_protocol.tickets import TicketState


def make_op(seq: int, payload: TicketCreate | TicketSet) -> Op:
    return Op(
        op_id=str(uuid7()),
        node_id="n1",
        store_id="s1",
        seq=seq,
        hlc="000000000001000.000000.n1",
        kind=kind_of(payload),
        entity_id="t1",
        payload=msgspec.Raw(encode_payload(payload)),
    )


def test_push_request_round_trips_with_raw_payloads() -> None:
    create = TicketCreate(ticket_id="t1", number="SH1-000001", type="quality", title="拉链坏了", created_at=1)
    edit = TicketSet(ticket_id="t1", changes={"title": "拉链总坏"})
    body = msgpack_encoder.encode(PushRequest(protocol=1, node_id="n1", ops=[make_op(1, create), make_op(2, edit)]))
    request = push_request_decoder.decode(body)
    assert [op.seq for op in request.ops] == [1, 2]
    assert decode_payload(request.ops[0].kind, request.ops[0].payload) == create
    assert decode_payload(request.ops[1].kind, request.ops[1].payload) == edit


def test_unknown_op_kind_decodes_as_envelope_and_is_upgrade_required() -> None:
    op = make_op(1, TicketSet(ticket_id="t1", changes={}))
    op.kind = "loyalty.points"
    request = push_request_decoder.decode(msgpack_encoder.encode(PushRequest(protocol=1, node_id="n1", ops=[op])))
    with pytest.raises(UnknownOpKind) as info:
        decode_payload(request.ops[0].kind, request.ops[0].payload)
    assert info.value.code == "upgrade_required"


def test_payload_whose_tag_contradicts_the_op_kind_is_refused() -> None:
    raw = encode_payload(TicketSet(ticket_id="t1", changes={}))
    with pytest.raises(msgspec.ValidationError):
        decode_payload("ticket.comment", raw)


def test_previous_version_ticket_state_without_newer_fields_still_decodes() -> None:
    """Schema evolution: a v1.0 snapshot had no ``extra`` and no ``field_hlcs``."""
    old = {
        "id": "t1",
        "number": "SH1-000001",
        "store_id": "s1",
        "type": "quality",
        "title": "t",
        "created_at": 1,
        "updated_at": 2,
        "hlc": "000000000001000.000000.n1",
    }
    state = decode_entity("ticket", msgspec.msgpack.encode(old))
    assert isinstance(state, TicketState)
    assert state.extra == {} and state.field_hlcs == {} and state.status == "new"


def test_entity_snapshot_travels_as_raw_bytes_inside_a_change() -> None:
    state = TicketState(id="t1", number="n", store_id="s", type="other", title="x", created_at=1, updated_at=1, hlc="h")
    change = Change(pos=3, entity="ticket", entity_id="t1", hlc="h", data=msgspec.Raw(encode_entity(state)))
    back = msgspec.msgpack.decode(msgpack_encoder.encode(change), type=Change)
    assert decode_entity(back.entity, back.data) == state


@pytest.mark.parametrize(("pos", "hlc"), [(0, ""), (17, "000000000001000.000002.hq")])
def test_cursor_round_trips(pos: int, hlc: str) -> None:
    assert decode_cursor(encode_cursor(pos, hlc)) == (pos, hlc)


@pytest.mark.parametrize("cursor", ["abc", "-1:x", "5:"])
def test_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)


def test_uuid7_is_version_7_and_time_ordered() -> None:
    first, second = uuid7(), uuid7()
    assert first.version == 7
    assert str(first)[:8] <= str(second)[:8]
