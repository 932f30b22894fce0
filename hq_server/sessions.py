"""Sign-in sessions of staff accounts: a random token in an HttpOnly cookie, its sha256 in the table.

- :func:`create` makes a token (``secrets.token_urlsafe(32)``, 256 bits) and stores only its
  sha256 (hex) as the session's id, with a CSRF token of its own.
- A session ends after :data:`IDLE_MS` (8 hours) without a request, or :data:`ABSOLUTE_MS`
  (12 hours) after sign-in, whichever comes first. :func:`lookup` deletes an ended session and
  refuses it; it records the last request at most once every :data:`TOUCH_INTERVAL_MS`, so the
  idle limit is counted with up to a minute's slack.
- Sign-out deletes the session; a password change or a deactivation deletes all of the user's
  (:func:`delete_user_sessions`).

The token is a credential: nothing here logs it, and only the cookie carries it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.db import Database
from hq_server.schema import sessions

HOUR_MS = 3_600_000
IDLE_MS = 8 * HOUR_MS
ABSOLUTE_MS = 12 * HOUR_MS
TOUCH_INTERVAL_MS = 60_000
MAX_USER_AGENT = 200
#: Longer cookie values are not ours (``token_urlsafe(32)`` is 43 characters).
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    csrf_token: str
    created_at: int
    last_seen_at: int
    expires_at: int
    user_agent: str = ""

    def ended(self, now_ms: int) -> bool:
        """Idle for :data:`IDLE_MS`, or past its absolute end."""
        return now_ms >= self.expires_at or now_ms - self.last_seen_at >= IDLE_MS


def token_id(token: str) -> str:
    """The stored id of a session token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, user_id: str, now_ms: int, *, user_agent: str = "") -> tuple[str, Session]:
    """A new session of ``user_id``: the token for the cookie (not stored) and the session."""
    token = secrets.token_urlsafe(32)
    session = Session(
        id=token_id(token),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now_ms,
        last_seen_at=now_ms,
        expires_at=now_ms + ABSOLUTE_MS,
        user_agent=user_agent[:MAX_USER_AGENT],
    )
    conn.execute(sessions.insert().values(**vars(session)))
    return token, session


def find(conn: Connection, token: str) -> Session | None:
    """The session of ``token`` as stored, ended or not."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = conn.execute(sa.select(sessions).where(sessions.c.id == token_id(token))).mappings().first()
    return Session(**row) if row is not None else None


def refresh(db: Database, session: Session, now_ms: int) -> Session | None:
    """``session`` if it has not ended (its last request recorded, at most once a minute); an ended
    session is deleted and None returned."""
    if session.ended(now_ms):
        with db.write_bookkeeping() as conn:
            delete(conn, session.id)
        return None
    if now_ms - session.last_seen_at >= TOUCH_INTERVAL_MS:
        with db.write_bookkeeping() as conn:
            conn.execute(sessions.update().where(sessions.c.id == session.id).values(last_seen_at=now_ms))
        return replace(session, last_seen_at=now_ms)
    return session


def lookup(db: Database, token: str, now_ms: int) -> Session | None:
    """The live session of ``token``, or None (unknown, or ended: then it is deleted)."""
    with db.read() as conn:
        session = find(conn, token)
    return refresh(db, session, now_ms) if session is not None else None


def delete(conn: Connection, session_id: str) -> None:
    """End one session (sign-out)."""
    conn.execute(sessions.delete().where(sessions.c.id == session_id))


def delete_user_sessions(conn: Connection, user_id: str, *, keep: str | None = None) -> int:
    """End every session of ``user_id`` but ``keep`` (a session id); returns how many ended."""
    query = sessions.delete().where(sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(sessions.c.id != keep)
    return conn.execute(query).rowcount or 0


def purge_ended(conn: Connection, now_ms: int) -> int:
    """Delete every ended session; returns how many."""
    query = sessions.delete().where(
        sa.or_(sessions.c.expires_at <= now_ms, sessions.c.last_seen_at <= now_ms - IDLE_MS)
    )
    return conn.execute(query).rowcount or 0


def user_session_count(conn: Connection, user_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
    return int(conn.execute(query).scalar_one())
