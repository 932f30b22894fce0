"""Intake channel adapters: each channel's own JSON shape turned into one :class:`IntakeMessage`.

A channel is one adapter function (``bytes -> IntakeMessage``) and one line in :data:`ADAPTERS`:
the function decodes the channel's payload into a small msgspec Struct (unknown keys ignored,
``null`` read as absent) and hands the values to :func:`make_message`, which does what every
channel needs the same way: message ids longer than the column are hashed, phone numbers are
normalized (so one customer is one phone across channels), the title is the first line of the
subject or text, free text is cut to the ticket's limits, and a refund or return request becomes
an ``after_sales`` ticket.

Errors: a body that is not a JSON object raises :class:`UnreadablePayload`; a value that does not
fit the channel's shape raises :class:`~sync_protocol.errors.InvalidField` naming it by its path in
the payload (``visitor.phone``, ``messages[0].text``), with code ``required``, ``too_long`` or
``invalid_type``. No SQL and no HTTP here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from email.utils import parseaddr
from typing import Annotated, Any, TypeVar

import msgspec

from hq_server.validation import field_error
from sync_protocol.errors import InvalidField
from sync_protocol.tickets import MAX_LENGTH
from sync_protocol.version import MAX_EPOCH_MS

#: Longest message id kept as it is (``intake_messages.message_id``); longer ones are hashed.
MAX_MESSAGE_ID = 128
MAX_TITLE = MAX_LENGTH["title"]
MAX_TEXT = MAX_LENGTH["description"]
MAX_NAME = MAX_LENGTH["customer_name"]
MAX_PHONE = MAX_LENGTH["customer_phone"]
MAX_CODE = 64
MAX_LEVEL = 40
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT = 1000
#: Most characters a channel may send for a free-text value before it is cut (title, text).
MAX_RAW_TEXT = 100_000

#: Words that make a message a refund / return request (an ``after_sales`` ticket).
AFTER_SALES_WORDS: tuple[str, ...] = ("退款", "退货", "退换", "换货", "refund")
#: Senders of a web chat line that are the customer.
VISITOR_SENDERS = frozenset({"", "visitor", "customer", "user", "guest"})
#: Speaker labels of the service side in a call transcript (``客服：您好...``).
AGENT_LABELS = frozenset({"客服", "坐席", "话务员", "接线员", "agent", "operator"})
#: Speaker labels of the caller.
CALLER_LABELS = frozenset({"顾客", "客户", "来电人", "用户", "买家", "customer", "caller"})

DEFAULT_TICKET_TYPE = "complaint"
AFTER_SALES_TYPE = "after_sales"


class UnreadablePayload(ValueError):
    """The body is not a JSON object (malformed JSON, or an array, a string...)."""


class IntakeMessage(msgspec.Struct, kw_only=True):
    """One customer message from any channel, in the one format intake makes tickets of."""

    #: The channel's own id of the message: a second delivery of it makes no second ticket.
    message_id: str
    #: What the customer said (the ticket's description).
    text: str
    #: The first line of the subject or text, at most 200 characters.
    title: str = ""
    #: Normalized (digits, ``+`` for a foreign number): the same customer on every channel.
    customer_phone: str = ""
    member_id: str = ""
    customer_name: str = ""
    #: ``vip``, ``gold``, ``regular``... when the channel knows it (lower case).
    customer_level: str = ""
    order_no: str = ""
    product_code: str = ""
    #: ``complaint``, or ``after_sales`` for a refund or return request.
    ticket_type: str = DEFAULT_TICKET_TYPE
    #: References (URLs, file names) of pictures and files that came with the message.
    attachments: list[str] = []
    #: When the customer sent it (ms since the epoch), when the channel says.
    received_at: int | None = None
    #: Facts of the channel kept with the ticket (platform, agent, e-mail address...).
    details: dict[str, str] = {}


# Types of the channels' values. Optional values may be absent or null.
_Text = Annotated[str, msgspec.Meta(max_length=MAX_RAW_TEXT)] | None
_Code = Annotated[str, msgspec.Meta(max_length=MAX_CODE)] | None
_Phone = Annotated[str, msgspec.Meta(max_length=MAX_PHONE)] | None
_Level = Annotated[str, msgspec.Meta(max_length=MAX_LEVEL)] | None
_Name = Annotated[str, msgspec.Meta(max_length=1000)] | None
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
_Ms = Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)] | None
_Attachments = (
    Annotated[list[Annotated[str, msgspec.Meta(max_length=MAX_ATTACHMENT)]], msgspec.Meta(max_length=MAX_ATTACHMENTS)]
    | None
)


class PlatformPayload(msgspec.Struct, kw_only=True):
    """An e-commerce platform's message: a buyer's after-sales request or order-page complaint."""

    request_id: _Id
    #: ``tmall``, ``jd``, ``douyin``, ``pdd``...
    platform: _Code = None
    order_no: _Code = None
    buyer_phone: _Phone = None
    buyer_nick: _Name = None
    buyer_member_id: _Code = None
    buyer_level: _Level = None
    #: ``refund``, ``return_refund``, ``exchange``...; absent for a complaint or an enquiry.
    refund_type: _Code = None
    reason: _Text = None
    description: _Text = None
    product_code: _Code = None
    images: _Attachments = None
    created_at: _Ms = None


class WechatPayload(msgspec.Struct, kw_only=True):
    """A message to the official account (WeChat) or from an external contact (WeCom), as the
    gateway forwards it: the platform's fields plus the member id / phone it looked up."""

    MsgId: _Id | Annotated[int, msgspec.Meta(ge=0)]
    #: The sender's openid (WeChat) or external user id (WeCom).
    FromUserName: _Code = None
    Content: _Text = None
    #: Seconds since the epoch, as WeChat sends it.
    CreateTime: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS // 1000)] | None = None
    MsgType: _Code = None
    PicUrl: Annotated[str, msgspec.Meta(max_length=MAX_ATTACHMENT)] | None = None
    member_id: _Code = None
    phone: _Phone = None
    nickname: _Name = None
    member_level: _Level = None


class PhonePayload(msgspec.Struct, kw_only=True):
    """A call to the hotline: the call centre's transcript (and the agent's summary)."""

    call_id: _Id
    #: The caller's number as the switchboard shows it (``anonymous`` when withheld).
    caller: _Phone = None
    transcript: _Text = None
    #: The agent's one-line summary: the ticket's title when given.
    summary: _Text = None
    agent: _Name = None
    caller_name: _Name = None
    member_id: _Code = None
    caller_level: _Level = None
    order_no: _Code = None
    product_code: _Code = None
    recording_url: Annotated[str, msgspec.Meta(max_length=MAX_ATTACHMENT)] | None = None
    started_at: _Ms = None


class SmsPayload(msgspec.Struct, kw_only=True):
    """A text message to the service number, as the SMS gateway forwards it."""

    sms_id: _Id
    sender: _Phone = msgspec.field(name="from", default=None)
    text: _Text = None
    received_at: _Ms = None


class WebchatVisitor(msgspec.Struct, kw_only=True):
    name: _Name = None
    phone: _Phone = None
    member_id: _Code = None
    level: _Level = None


class WebchatLine(msgspec.Struct, kw_only=True):
    #: ``visitor`` (the customer) or ``agent`` / ``bot``.
    sender: _Code = msgspec.field(name="from", default=None)
    text: _Text = None
    attachments: _Attachments = None


class WebchatPayload(msgspec.Struct, kw_only=True):
    """A web chat (site widget) conversation, or the part of it left as a message."""

    message_id: _Id
    session_id: _Code = None
    visitor: WebchatVisitor | None = None
    messages: Annotated[list[WebchatLine], msgspec.Meta(max_length=500)] | None = None
    order_no: _Code = None
    product_code: _Code = None
    sent_at: _Ms = None


class EmailPayload(msgspec.Struct, kw_only=True):
    """An e-mail to the service address, as the mail gateway parsed it."""

    message_id: _Id
    #: ``张三 <zhang@example.com>`` or the bare address.
    sender: _Name = msgspec.field(name="from", default=None)
    subject: _Text = None
    body: _Text = None
    attachments: _Attachments = None
    #: Set by a gateway that knows the customer; else a mobile number in the mail is used.
    phone: _Phone = None
    member_id: _Code = None
    order_no: _Code = None
    date: _Ms = None


_S = TypeVar("_S", bound=msgspec.Struct)

_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode_payload(raw: bytes, shape: type[_S]) -> _S:
    """``raw`` as the channel's Struct; see the module docstring for the errors."""
    decoder = _decoders.get(shape)
    if decoder is None:
        decoder = _decoders[shape] = msgspec.json.Decoder(shape)
    try:
        value: _S = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _payload_error(exc) from exc
    except msgspec.DecodeError as exc:
        raise UnreadablePayload(str(exc)) from exc
    return value


def _payload_error(exc: msgspec.ValidationError) -> InvalidField | UnreadablePayload:
    """msgspec's error naming the value by its path in the payload (no ``$`` or root)."""
    error = field_error(exc, root="$")
    if error.field == "$":
        return UnreadablePayload(str(exc))  # not an object at all
    field = error.field.removeprefix("$").removeprefix(".")
    detail = str(error.params.get("detail", ""))
    code = error.code
    if code == "invalid_type" and "of length <=" in detail:
        code = "too_long"
    elif code == "invalid_type" and "of length >=" in detail:
        code = "required"
    params = {k: v for k, v in error.params.items() if k != "name"}
    return InvalidField(field, f"{field}: {error.message}", code=code, **params)


# -- what every channel needs ---------------------------------------------------------------------

#: Characters no database column takes (NUL, unpaired surrogates) and other controls but tab/newline.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
#: A mainland China mobile number inside a text.
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
#: A transcript line with its speaker: ``顾客：鞋开胶了`` / ``Agent: hello``.
_SPEAKER = re.compile(r"\s*(?P<label>[^:：\s]{1,12})\s*[:：]\s*(?P<said>.*)")


def normalize_phone(raw: str | None) -> str:
    """A phone number as customers are matched by: digits only (``+`` kept for a foreign number),
    China's country code dropped from a mobile number; ``""`` for a withheld or unusable one."""
    value = (raw or "").strip()
    plus = value.startswith("+")
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 5:
        return ""
    for prefix in ("0086", "86"):
        rest = digits.removeprefix(prefix)
        if rest != digits and _CN_MOBILE.fullmatch(rest):
            return rest
    if plus:
        return f"+{digits}"[:MAX_PHONE]
    return digits[:MAX_PHONE]


def clean_text(value: str | None, limit: int) -> str:
    """Free text as a ticket holds it: unstorable characters dropped, stripped, cut to ``limit``."""
    text = _UNSTORABLE.sub("", value or "").replace("\r\n", "\n").strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def first_line(text: str) -> str:
    """The first non-empty line, whitespace collapsed, cut to the title's length."""
    for line in text.splitlines():
        line = _SPACES.sub(" ", line).strip()
        if line:
            return clean_text(line, MAX_TITLE)
    return ""


def _code(value: str | None) -> str:
    """An id or code as stored: unstorable characters dropped, stripped."""
    return _UNSTORABLE.sub("", value or "").strip()


def message_key(raw: str | int) -> str:
    """The channel's message id as stored: itself, or a hash when it is longer than the column."""
    key = _code(str(raw))
    if len(key) > MAX_MESSAGE_ID:
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def says_after_sales(*texts: str) -> bool:
    lowered = " ".join(texts).lower()
    return any(word in lowered for word in AFTER_SALES_WORDS)


def make_message(
    *,
    message_id: str | int,
    id_field: str,
    text: str | None,
    text_field: str,
    title_from: str | None = None,
    phone: str | None = None,
    member_id: str | None = None,
    name: str | None = None,
    level: str | None = None,
    order_no: str | None = None,
    product_code: str | None = None,
    after_sales: bool = False,
    attachments: Iterable[str | None] = (),
    received_at: int | None = None,
    details: dict[str, str | None] | None = None,
) -> IntakeMessage:
    """An :class:`IntakeMessage` from a channel's values (see the module docstring); ``id_field``
    and ``text_field`` are the channel's names of the message id and the text, for errors."""
    key = message_key(message_id)
    if not key:
        raise InvalidField(id_field, f"{id_field} is required", code="required")
    body = clean_text(text, MAX_TEXT)
    if not body:
        raise InvalidField(text_field, f"{text_field} is required", code="required")
    title = first_line(clean_text(title_from, MAX_RAW_TEXT)) or first_line(body)
    explicit = after_sales or says_after_sales(title, body)
    return IntakeMessage(
        message_id=key,
        text=body,
        title=title,
        customer_phone=normalize_phone(phone),
        member_id=_code(member_id),
        customer_name=clean_text(_SPACES.sub(" ", name or ""), MAX_NAME),
        customer_level=_code(level).lower(),
        order_no=_code(order_no),
        product_code=_code(product_code),
        ticket_type=AFTER_SALES_TYPE if explicit else DEFAULT_TICKET_TYPE,
        attachments=list(dict.fromkeys(a.strip() for a in attachments if a and a.strip())),
        received_at=received_at,
        details={k: v.strip() for k, v in (details or {}).items() if v and v.strip()},
    )


def _caller_line(transcript: str | None) -> str | None:
    """The first line of a transcript the service side did not say (without a caller label)."""
    for line in (transcript or "").splitlines():
        labelled = _SPEAKER.match(line)
        label = labelled["label"].lower() if labelled is not None else ""
        if label in AGENT_LABELS:
            continue
        said = labelled["said"] if labelled is not None and label in CALLER_LABELS else line
        if said.strip():
            return said
    return None


def _joined(*parts: str | None) -> str:
    return "\n".join(part.strip() for part in parts if part and part.strip())


def _all(values: Sequence[str] | None) -> list[str]:
    return list(values or [])


# -- the channels ----------------------------------------------------------------------------------


def from_platform(raw: bytes) -> IntakeMessage:
    """An e-commerce platform's after-sales request or complaint (``refund_type`` set: after-sales)."""
    p = decode_payload(raw, PlatformPayload)
    return make_message(
        message_id=p.request_id,
        id_field="request_id",
        text=_joined(p.reason, p.description),
        text_field="reason",
        phone=p.buyer_phone,
        member_id=p.buyer_member_id,
        name=p.buyer_nick,
        level=p.buyer_level,
        order_no=p.order_no,
        product_code=p.product_code,
        after_sales=bool((p.refund_type or "").strip()),
        attachments=_all(p.images),
        received_at=p.created_at,
        details={"platform": p.platform, "refund_type": p.refund_type},
    )


def from_wechat(raw: bytes) -> IntakeMessage:
    """A WeChat official account or WeCom message (``CreateTime`` in seconds)."""
    p = decode_payload(raw, WechatPayload)
    return make_message(
        message_id=p.MsgId,
        id_field="MsgId",
        text=p.Content,
        text_field="Content",
        phone=p.phone,
        member_id=p.member_id,
        name=p.nickname,
        level=p.member_level,
        attachments=[p.PicUrl],
        received_at=p.CreateTime * 1000 if p.CreateTime is not None else None,
        details={"from_user": p.FromUserName, "msg_type": p.MsgType},
    )


def from_phone(raw: bytes) -> IntakeMessage:
    """A hotline call: the transcript is the text; the title is the agent's summary, else the
    caller's first line."""
    p = decode_payload(raw, PhonePayload)
    return make_message(
        message_id=p.call_id,
        id_field="call_id",
        text=p.transcript,
        text_field="transcript",
        title_from=p.summary if (p.summary or "").strip() else _caller_line(p.transcript),
        phone=p.caller,
        member_id=p.member_id,
        name=p.caller_name,
        level=p.caller_level,
        order_no=p.order_no,
        product_code=p.product_code,
        attachments=[p.recording_url],
        received_at=p.started_at,
        details={"agent": p.agent},
    )


def from_sms(raw: bytes) -> IntakeMessage:
    """A text message; the sender's number is the customer's phone."""
    p = decode_payload(raw, SmsPayload)
    return make_message(
        message_id=p.sms_id,
        id_field="sms_id",
        text=p.text,
        text_field="text",
        phone=p.sender,
        received_at=p.received_at,
    )


def from_webchat(raw: bytes) -> IntakeMessage:
    """A web chat: the visitor's lines are the text (with speakers when an agent or bot spoke too);
    the visitor's first line is the title."""
    p = decode_payload(raw, WebchatPayload)
    visitor = p.visitor or WebchatVisitor()
    lines = [line for line in p.messages or [] if (line.text or "").strip()]
    senders = {(line.sender or "").strip().lower() for line in lines}
    if senders <= VISITOR_SENDERS:
        text = _joined(*(line.text for line in lines))
    else:
        text = "\n".join(f"{(line.sender or 'visitor').strip()}: {(line.text or '').strip()}" for line in lines)
    from_visitor = [line.text for line in lines if (line.sender or "").strip().lower() in VISITOR_SENDERS]
    return make_message(
        message_id=p.message_id,
        id_field="message_id",
        text=text,
        text_field="messages",
        title_from=from_visitor[0] if from_visitor else None,
        phone=visitor.phone,
        member_id=visitor.member_id,
        name=visitor.name,
        level=visitor.level,
        order_no=p.order_no,
        product_code=p.product_code,
        attachments=[a for line in p.messages or [] for a in _all(line.attachments)],
        received_at=p.sent_at,
        details={"session_id": p.session_id},
    )


def from_email(raw: bytes) -> IntakeMessage:
    """An e-mail: the subject is the title, the body the text. With no ``phone`` or ``member_id``
    from the gateway, the first mainland mobile number in the subject or body is the customer's."""
    p = decode_payload(raw, EmailPayload)
    name, address = parseaddr(p.sender or "")
    phone = p.phone
    if not (phone or "").strip() and not (p.member_id or "").strip():
        found = _MOBILE_IN_TEXT.search(_joined(p.subject, p.body))
        phone = found.group(0) if found else None
    return make_message(
        message_id=p.message_id,
        id_field="message_id",
        text=p.body if (p.body or "").strip() else p.subject,
        text_field="body",
        title_from=p.subject,
        phone=phone,
        member_id=p.member_id,
        name=name,
        order_no=p.order_no,
        attachments=_all(p.attachments),
        received_at=p.date,
        details={"email": address or p.sender},
    )


#: Channel code -> its adapter. A new channel is one function above and one line here.
ADAPTERS: dict[str, Callable[[bytes], IntakeMessage]] = {
    "platform": from_platform,
    "wechat": from_wechat,
    "wecom": from_wechat,
    "phone": from_phone,
    "sms": from_sms,
    "webchat": from_webchat,
    "email": from_email,
}
