"""``bbcu models``: every model of the manifest with its task, scale, architecture, size, local
status, default and variants, and metrics (a table, or ``--json``)."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..weights.cache import cache_dir, get_manifest, status
from ..weights.manifest import ManifestEntry
from .weights_cmd import JsonOut, _human, _stdout

__all__ = ["models_command"]


def _metrics_text(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, dict) and "psnr" in value:
            parts.append(f"{key} {value['psnr']:.2f}" + (f"/{value['ssim']:.4f}" if "ssim" in value else ""))
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts) or "-"


def _model_row(entry: ManifestEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "task": entry.task,
        "scale": entry.scale,
        "arch": entry.arch.describe(),
        "size": entry.size,
        "status": status(entry),
        "default": entry.default,
        "clean_variant": entry.clean_variant,
        "alias_variant": entry.alias_variant,
        "format": entry.format,
        "metrics": entry.metrics,
        "description": entry.description,
        "source_page": entry.source_page,
    }


def _default_text(row: dict[str, Any]) -> str:
    """``yes`` for a default, ``+ NAME`` for each variant a model routes to
    (:mod:`bbcu_cli.routing`), joined by commas, or ""."""
    parts = ["yes"] if row["default"] else []
    return ", ".join(parts + [f"+ {row[k]}" for k in ("clean_variant", "alias_variant") if row[k]])


def models_command(json_out: JsonOut = False) -> None:
    """List known models: task, scale, architecture, size, local status, default, metrics."""
    from rich.table import Table

    rows = [_model_row(e) for e in get_manifest().models]
    if json_out:
        sys.stdout.write(json.dumps({"cache_dir": str(cache_dir()), "models": rows}, indent=2) + "\n")
        return
    table = Table("name", "task", "scale", "arch", "size", "status", "default", "metrics")
    for row in rows:
        table.add_row(
            row["name"],
            row["task"],
            f"x{row['scale']}",
            row["arch"],
            _human(row["size"]),
            row["status"],
            _default_text(row),
            _metrics_text(row["metrics"]),
        )
    out = _stdout()
    out.print(table)
    if any(r["status"] == "manual" for r in rows):
        out.print(
            "manual: download the file from the source page, then 'bbcu weights import FILE --name NAME'", markup=False
        )
