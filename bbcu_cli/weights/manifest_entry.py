"""The manifest's data: frozen dataclasses for one model entry and its parts.

:class:`ArchInfo` (network hyper-parameters), :class:`Provenance` (where the weights come
from), :class:`DriveSource` (the authors' Google Drive file) and :class:`ManifestEntry` (one
model). Validation lives in :mod:`.manifest_rules`; the :class:`~.manifest.Manifest` collection
and ``load_manifest`` in :mod:`.manifest`. Torch-free (imported by ``bbcu models``/``weights``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..archs import find

__all__ = ["ArchInfo", "Provenance", "DriveSource", "ManifestEntry"]


@dataclass(frozen=True)
class ArchInfo:
    """Network hyper-parameters (mirrors ``ModelSpec``; ``depth`` = num_block or num_layers)."""

    name: str
    num_feat: int
    depth: int
    k: float
    in_channels: int = 3
    bias: bool = False
    noise_channel: bool = False
    unshuffle: int = 1

    def describe(self) -> str:
        fam = find(self.name)
        unit = fam.depth_unit if fam is not None else "blocks"
        extra = f", unshuffle {self.unshuffle}" if self.unshuffle > 1 else ""
        return f"{self.name} {self.num_feat}f/{self.depth} {unit}{extra}"


@dataclass(frozen=True)
class Provenance:
    """Where the weights come from: training data, iterations, command, free notes."""

    data: str = ""
    iterations: int | None = None
    command: str = ""
    notes: str = ""
    wall_time_s: float | None = None


@dataclass(frozen=True)
class DriveSource:
    """The authors' file ``file`` in the public Google Drive folder ``folder``.

    ``sha256`` is that original file's checksum, recorded in the user manifest on the first
    download (trust on first use) and checked on every later one.
    """

    folder: str
    file: str
    sha256: str | None = None

    @property
    def folder_url(self) -> str:
        return f"https://drive.google.com/drive/folders/{self.folder}"


@dataclass(frozen=True)
class ManifestEntry:
    """One model. ``sha256``/``size`` are ``None`` only for ``official-pth`` entries not yet
    fetched: from Google Drive on demand (``drive``), or by hand (then ``bbcu weights import``)."""

    name: str
    task: str
    scale: int
    arch: ArchInfo
    file: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...] = ()
    bundled: bool = False
    default: bool = False
    format: str = "bbcu-safetensors"
    provenance: Provenance = field(default_factory=Provenance)
    metrics: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source_page: str | None = None
    description: str = ""
    drive: DriveSource | None = None
    clean_variant: str | None = None
    """SR: the entry to restore cleanly downscaled inputs with instead (see :mod:`bbcu_cli.routing`)."""
    alias_variant: str | None = None
    """SR: the entry to restore aliased inputs (downscaled without antialiasing) with instead."""
    copies: int = 1
    """Self-ensemble copies averaged by default (1, 2, 4 or 8; see :mod:`bbcu_cli.engine.ensemble`)."""

    def variants(self) -> dict[str, str]:
        """``{kind: entry name}`` of the variants this entry names, in the order they are asked."""
        named = {"clean": self.clean_variant, "alias": self.alias_variant}
        return {kind: name for kind, name in named.items() if name is not None}

    @property
    def manual(self) -> bool:
        """No checksum and no Drive source: the file must be fetched by hand and imported."""
        return self.sha256 is None and self.drive is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return data
