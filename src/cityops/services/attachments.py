"""Photo uploads: checked by content (not by the name or the declared type), size-limited,
re-encoded without EXIF so that no GPS position or phone model leaves through a public page.

The original bytes are kept for staff (evidence); the stripped copy is what the public sees.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import NotFound, ValidationFailed
from cityops.store.blobs import BlobStore
from cityops.store.schema import Attachment

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Upload:
    id: str
    content_type: str
    size: int
    width: int
    height: int


def _public_key(sha: str) -> str:
    return hashlib.sha256(f"public:{sha}".encode()).hexdigest()


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """Re-encode the pixels only (EXIF, GPS, XMP and maker notes dropped), upright."""
    with Image.open(io.BytesIO(data)) as im:
        upright = ImageOps.exif_transpose(im)
        if upright.mode not in ("RGB", "RGBA", "L", "LA"):
            upright = upright.convert("RGBA")
        # A new image from the raw pixels carries no info dict: nothing of the original's
        # metadata can be written back by accident.
        clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
        if fmt == "JPEG" and clean.mode not in ("RGB", "L"):
            clean = clean.convert("RGB")
        out = io.BytesIO()
        clean.save(out, format=fmt, quality=88)
        return out.getvalue()


def save_upload(
    session: Session, store: BlobStore, data: bytes, filename: str, user_id: int | None
) -> Upload:
    if not data:
        raise ValidationFailed("上传的文件为空", en="the uploaded file is empty", code="empty_file")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"文件过大：{len(data) / 1e6:.1f} MB，上限 {MAX_BYTES // 2**20} MB",
            en=f"file too large: {len(data) / 1e6:.1f} MB, limit {MAX_BYTES // 2**20} MB",
            code="file_too_large",
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ValidationFailed(
                    "图片像素过多", en="image has too many pixels", code="image_too_large"
                )
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValidationFailed(
            "文件不是可识别的图片（支持 JPEG、PNG、WebP）",
            en="the file is not a recognised image (JPEG, PNG or WebP)",
            code="not_an_image",
        ) from exc
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"不支持的图片格式 {fmt}（支持 JPEG、PNG、WebP）",
            en=f"unsupported image format {fmt} (JPEG, PNG or WebP)",
            code="not_an_image",
        )
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    store.put(_public_key(sha), strip_metadata(data, fmt))
    existing = session.scalar(
        select(Attachment).where(Attachment.sha256 == sha, Attachment.uploaded_by == user_id)
    )
    if existing is not None:  # the same photo again (a retry): the same attachment
        return Upload(existing.id, existing.content_type, existing.size, width, height)
    row = Attachment(
        id=str(uuid.uuid4()),
        sha256=sha,
        content_type=FORMATS[fmt],
        size=len(data),
        width=width,
        height=height,
        filename=filename[:200],
        uploaded_by=user_id,
    )
    session.add(row)
    session.flush()
    return Upload(row.id, row.content_type, row.size, width, height)


def get_attachment(session: Session, attachment_id: str) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(
            f"没有编号为 {attachment_id} 的附件",
            en=f"no attachment {attachment_id}",
            code="unknown_attachment",
        )
    return row


def read_attachment(store: BlobStore, row: Attachment, *, public: bool) -> bytes:
    """Staff get the original; the public only ever the stripped copy."""
    return store.get(_public_key(row.sha256) if public else row.sha256)
