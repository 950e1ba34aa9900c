"""Options shared by several commands, declared once (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Inputs = Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns ('-' reads stdin).", show_default=False)]
Output = Annotated[Optional[str], typer.Option("-o", "--output", help="Output file (one input) or folder (several); '-' writes stdout. Default: beside each input.")]
Model = Annotated[Optional[str], typer.Option("-m", "--model", help="Model name (see 'bbcu models') or a checkpoint file (.pth/.pt/.safetensors).")]
Ref = Annotated[Optional[str], typer.Option("--ref", help="Reference image, or folder of references matched by file stem: PSNR/SSIM are reported.")]
Tile = Annotated[int, typer.Option("--tile", min=0, help="Tile side in input pixels; 0 picks full-width stripes that fit free memory.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Threads = Annotated[int, typer.Option("--threads", min=0, help="CPU threads (0: all cores).")]
Backend = Annotated[str, typer.Option("--backend", help="auto (packed kernel on CPU when available, folded float16 path on CUDA), packed, float or folded.")]
Suffix = Annotated[Optional[str], typer.Option("--suffix", help="Output name suffix (default _x4, _denoised or _deblocked).")]
Format = Annotated[Optional[str], typer.Option("--format", help="Output format: png, jpg, webp, bmp, tiff (default: from the output name, else the input's).")]
SkipExisting = Annotated[bool, typer.Option("--skip-existing", help="Leave outputs that already exist and go on.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")]
Recursive = Annotated[bool, typer.Option("-r", "--recursive", help="Search input folders recursively.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object with every item and a summary on stdout.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars or summary on stderr.")]
Offline = Annotated[bool, typer.Option("--offline", help="Never use the network (same as BBCU_OFFLINE=1).")]
K = Annotated[Optional[float], typer.Option("--k", help="Override the residual-alignment factor k (default 130 * features / 64).")]
MaxPixels = Annotated[int, typer.Option("--max-pixels", min=0, help="Refuse inputs whose output would exceed this many pixels (0: no limit).")]
Shard = Annotated[Optional[str], typer.Option("--shard", help="I/N: process every N-th input of the sorted list, starting at the I-th.")]
Ensemble = Annotated[bool, typer.Option("--ensemble", help="x8 self-ensemble: average the outputs for the 8 flips/rotations (8x slower; denoising gained 0.27 dB).")]
