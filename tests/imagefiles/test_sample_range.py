"""Integer TIFF samples no 8/16-bit image holds: an int16 TIFF with negative samples came out
as uint16 with every negative clipped to 0, a uint32 one saturated at 65535, both with exit 0.
Now refused with a one-line error; in-range int16/uint32 samples are kept exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from clihelp import run_cli


@pytest.mark.parametrize(
    ("dtype", "lo", "hi", "message"),
    [
        (np.int16, -2000, 2000, "holds int16 samples from -"),
        (np.uint32, 0, 1 << 20, "holds uint32 samples from 0 to"),
    ],
)
def test_out_of_range_integer_tiff_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, dtype: type, lo: int, hi: int, message: str
) -> None:
    src = tmp_path / "data.tif"
    tifffile.imwrite(src, np.linspace(lo, hi, 24 * 24).reshape(24, 24).astype(dtype))
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", "bbcu-fast-x2")
    assert res.code == 1 and message in res.err and "data.tif" in res.err
    assert not (tmp_path / "data_x2.tif").exists()


def test_in_range_int16_tiff_keeps_its_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "pos.tif"
    tifffile.imwrite(src, np.full((24, 24), 3000, np.int16))
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", "bbcu-fast-x2")
    assert res.code == 0
    out = tifffile.imread(tmp_path / "pos_x2.tif")
    assert out.dtype == np.uint16 and abs(int(np.median(out)) - 3000) <= 64  # < 1 level of 8-bit
