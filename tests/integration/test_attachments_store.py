"""Photos: the public copy has no EXIF (no GPS, no phone model), staff keep the original."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from cityops.core.errors import ValidationFailed
from cityops.services.attachments import MAX_BYTES, get_attachment, read_attachment, save_upload
from cityops.store.blobs import DiskBlobStore


def _photo(fmt: str) -> bytes:
    img = Image.new("RGB", (40, 30), (10, 200, 90))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    exif[0x0112] = 6  # orientation: rotated 90°
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (34.0, 47.0, 35.0)
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_public_copy_is_stripped_and_upright(session: Session, tmp_path: Path, fmt: str) -> None:
    store = DiskBlobStore(tmp_path)
    data = _photo(fmt)
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get(0x010F) == "PhoneMaker"  # the fixture really has EXIF
    up = save_upload(session, store, data, "p", None)
    row = get_attachment(session, up.id)
    assert read_attachment(store, row, public=False) == data
    public = read_attachment(store, row, public=True)
    with Image.open(io.BytesIO(public)) as im:
        assert im.format == fmt
        assert dict(im.getexif()) == {}
        assert "exif" not in im.info
        assert im.size == (30, 40)  # the orientation tag was applied, then dropped


def test_refusals(session: Session, tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    for data, code in (
        (b"", "empty_file"),
        (b"GIF89a" + b"\x00" * 20, "not_an_image"),
        (b"%PDF-1.7 hello", "not_an_image"),
        (b"\xff" * (MAX_BYTES + 1), "file_too_large"),
    ):
        with pytest.raises(ValidationFailed) as err:
            save_upload(session, store, data, "x", None)
        assert err.value.code == code
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    with pytest.raises(ValidationFailed) as err:
        save_upload(session, store, gif.getvalue(), "x.gif", None)
    assert err.value.code == "not_an_image" and "GIF" in err.value.message
