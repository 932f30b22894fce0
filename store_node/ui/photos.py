"""Photos a clerk attaches to a ticket: checked by their bytes, kept in the node's data folder,
served back to signed-in clerks.

A ticket's photo field holds references ``photo:<file name>``; the file lives in
``<data dir>/photos/<uuid>.<ext>``. (Sending the bytes to HQ is not done yet: HQ sees the
references only.)
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from store_node.errors import NotFound
from store_node.node import Node
from store_node.ui.render import node_of, signed_in
from sync_protocol.forms import MAX_PHOTOS

#: Largest photo taken, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: What a reference to a stored photo starts with.
PREFIX = "photo:"
#: Extension -> media type of the images taken.
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
#: The only file names stored and served: no path, no dot files, nothing a clerk could steer.
SAFE_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|webp|gif)$")


class PhotoRefused(Exception):
    """An upload that is not taken; ``code`` is a UI text key."""

    def __init__(self, code: str, *, name: str = "") -> None:
        super().__init__(code)
        self.code = code
        #: The file refused (as the clerk's disk named it), and the form field it was chosen for.
        self.name = name
        self.field = ""


def photos_dir(node: Node) -> Path:
    return node.replica.path.parent / "photos"


def sniff(head: bytes) -> str | None:
    """The extension of an image by its first bytes (JPEG, PNG, WebP, GIF), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def chosen(values: Sequence[object]) -> list[UploadFile]:
    """The files of one file input (a browser sends an empty part when none was chosen)."""
    return [v for v in values if isinstance(v, UploadFile) and (v.filename or v.size)]


async def read_images(uploads: list[UploadFile], *, already: int = 0) -> list[tuple[bytes, str]]:
    """Each upload's bytes and extension, all checked before any is kept; :class:`PhotoRefused`."""
    if already + len(uploads) > MAX_PHOTOS:
        raise PhotoRefused("tk_photo_too_many")
    found = []
    for upload in uploads:
        data = await upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise PhotoRefused("tk_photo_too_large", name=upload.filename or "")
        ext = sniff(data[:16])
        if ext is None:
            raise PhotoRefused("tk_photo_not_image", name=upload.filename or "")
        found.append((data, ext))
    return found


def save(node: Node, data: bytes, ext: str) -> str:
    """Keep one image; its reference (``photo:<name>``)."""
    folder = photos_dir(node)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.{ext}"
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)
    return PREFIX + name


def name_of(reference: object) -> str | None:
    """The stored file name of a reference this node keeps, else None."""
    if not isinstance(reference, str) or not reference.startswith(PREFIX):
        return None
    name = reference[len(PREFIX) :]
    return name if SAFE_NAME.match(name) else None


def kept(node: Node, reference: str) -> bool:
    """``reference`` names a photo stored here (a re-sent form may only carry those)."""
    name = name_of(reference)
    return name is not None and (photos_dir(node) / name).is_file()


async def serve(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    name = request.path_params["name"]
    path = photos_dir(node_of(request)) / name
    if not SAFE_NAME.match(name) or not path.is_file():
        raise NotFound(f"no photo {name}", code="not_found")
    return FileResponse(
        path, media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]], headers={"Cache-Control": "private, max-age=86400"}
    )


routes = [Route("/photos/{name}", serve, methods=["GET"])]
