"""The JPEG quality estimate (``imagefiles._jpegq``) that weights the deblocker."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from bbcu_cli.imagefiles import read_image
from bbcu_cli.imagefiles._jpegq import estimate_jpeg_quality

_PIXELS = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [20, 50, 75, 90, 95])
def test_pillow_and_opencv_qualities_are_recovered(quality: int) -> None:
    buf = io.BytesIO()
    PILImage.fromarray(_PIXELS).save(buf, "JPEG", quality=quality)
    assert estimate_jpeg_quality(PILImage.open(buf).quantization) == pytest.approx(quality, abs=0.5)
    ok, data = cv2.imencode(".jpg", _PIXELS, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok and estimate_jpeg_quality(PILImage.open(io.BytesIO(data.tobytes())).quantization) == pytest.approx(
        quality, abs=0.5
    )


def test_no_table_no_estimate(tmp_path: object) -> None:
    assert estimate_jpeg_quality(None) is None
    assert estimate_jpeg_quality({0: [1] * 10}) is None
    assert (
        1.0 <= estimate_jpeg_quality({0: [255] * 64}) < 15
    )  # (a table clamped at 255 reads a few points off)  # type: ignore[operator]
    buf = io.BytesIO()
    PILImage.fromarray(_PIXELS).save(buf, "PNG")
    assert read_image(io.BytesIO(buf.getvalue())).jpeg_quality is None
