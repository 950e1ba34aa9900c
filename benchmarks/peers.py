"""Compare bbcu's shipped SR models with small float CPU peers (issue #16, item 4).

    python benchmarks/peers.py [--scales 4 2] [--sizes 320x180 640x360 1280x720] [--repeat 5]
                               [--threads 2] [--sets Set5 Set14] [--no-quality] [--json PATH]
                               [--venv PATH] [--peers-dir DIR] [--bench-dir DIR]

Peers: FSRCNN, FSRCNN-small and ESPCN (TensorFlow graphs from ``../shared/peers``, see its
README) run by OpenCV's ``dnn_superres``, plus bicubic as a reference row. They need
``opencv-contrib-python-headless``, which clashes with the project's ``opencv-python-headless``,
so they run in a worker process of a separate venv that this script builds once (default
``$XDG_CACHE_HOME/bbcu-cli/peers-venv``). The worker is started once and answers one JSON line
per request on stdin/stdout; images travel as ``.npy`` files in a temporary folder.

Speed: for each scale and input size, every method runs back to back on the same image (a
mosaic of B100 photos): one warm-up, then the median of ``--repeat`` timed runs. Model loading
is not timed. bbcu models (every bundled ``sr`` model of the scale in the weights manifest) run
in this process through :class:`bbcu_cli.engine.restore.Restorer`.

Quality: Y-PSNR under the benchmark protocol (``shared/datasets/README.md``): HR modcropped,
LR = MATLAB bicubic, output quantised to uint8, Y channel, ``scale`` pixels cropped per border.
The bicubic row's PSNR is MATLAB bicubic (``bicubic_baseline``); its time is ``cv2.resize``.

Not part of the test suite: a standalone script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, TextIO

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OPENCV_PACKAGE = "opencv-contrib-python-headless"
OPENCV_VERSION = "4.14.0.94"
PEERS = (("FSRCNN", "fsrcnn"), ("FSRCNN-small", "fsrcnn"), ("ESPCN", "espcn"))
REFERENCE = "FSRCNN"
DEFAULT_SIZES = ("320x180", "640x360", "1280x720")
MOSAIC_CELL = 320

WORKER_SOURCE = r'''
"""bbcu peers worker: one JSON request per stdin line, one JSON reply per stdout line."""
import json, sys, time
import numpy as np
import cv2

MODELS = {}

def model(req):
    key = (req["file"], req["algo"], req["scale"])
    if key not in MODELS:
        sr = cv2.dnn_superres.DnnSuperResImpl_create()
        sr.readModel(req["file"])
        sr.setModel(req["algo"], req["scale"])
        MODELS[key] = sr
    return MODELS[key]

def runner(req):
    if req["algo"] == "bicubic":
        s = req["scale"]
        return lambda img: cv2.resize(img, (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)
    return model(req).upsample

def timed(run, img, repeat):
    run(img)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(img)
        times.append(time.perf_counter() - start)
    return times

def handle(req):
    run = runner(req)
    if req["op"] == "load":
        return {}
    if req["op"] == "time":
        return {"times": timed(run, np.load(req["input"]), req["repeat"])}
    for src, dst in zip(req["inputs"], req["outputs"]):
        np.save(dst, run(np.ascontiguousarray(np.load(src))))
    return {}

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

cv2.setNumThreads(int(sys.argv[1]))
reply({"ok": True, "opencv": cv2.__version__, "threads": cv2.getNumThreads()})
for line in sys.stdin:
    try:
        reply(dict(handle(json.loads(line)), ok=True))
    except Exception as exc:
        reply({"ok": False, "error": " ".join(f"{type(exc).__name__}: {exc}".split())[:300]})
'''

CHECK_SOURCE = (
    "import importlib.metadata as m, cv2; cv2.dnn_superres.DnnSuperResImpl_create(); "
    f"print(m.version({OPENCV_PACKAGE!r}))"
)


class PeersError(Exception):
    """A peers venv or worker problem (one line)."""


# ---------------------------------------------------------------- the peers venv


def default_venv() -> Path:
    """``$XDG_CACHE_HOME/bbcu-cli/peers-venv`` (``~/.cache`` when the variable is unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bbcu-cli" / "peers-venv"


def venv_python(venv: Path) -> Path:
    """The interpreter of ``venv`` (POSIX or Windows layout)."""
    posix = venv / "bin" / "python"
    return posix if posix.exists() or os.name != "nt" else venv / "Scripts" / "python.exe"


def venv_ready(venv: Path) -> bool:
    """True when ``venv`` has the pinned contrib OpenCV with ``dnn_superres``."""
    python = venv_python(venv)
    if not python.exists():
        return False
    proc = subprocess.run([str(python), "-c", CHECK_SOURCE], capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip() == OPENCV_VERSION


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _step(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PeersError(f"{what} failed: {_last_line(proc.stderr or proc.stdout)}")


def ensure_venv(venv: Path) -> Path:
    """Build ``venv`` once (``python -m venv`` + pinned pip install); return its interpreter.

    Raises:
        PeersError: the venv cannot be created or the package cannot be installed.
    """
    if venv_ready(venv):
        return venv_python(venv)
    print(f"building the peers venv in {venv} (once; installs {OPENCV_PACKAGE}=={OPENCV_VERSION})", file=sys.stderr)
    _step([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}")
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "--retries", "2"]
    _step(pip + [f"{OPENCV_PACKAGE}=={OPENCV_VERSION}", "numpy"], f"pip install {OPENCV_PACKAGE}=={OPENCV_VERSION}")
    if not venv_ready(venv):
        raise PeersError(f"{venv}: cv2.dnn_superres still does not import after the install")
    return venv_python(venv)


# ---------------------------------------------------------------- the peers worker


class PeerWorker:
    """A persistent worker process in the peers venv (JSON lines over its stdin/stdout)."""

    def __init__(self, python: Path, threads: int, scratch: Path) -> None:
        self.scratch = scratch
        self._stderr: TextIO = open(scratch / "worker-stderr.txt", "w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [str(python), "-c", WORKER_SOURCE, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.hello = self._read()
        self._count = 0

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise PeersError(f"the peers worker stopped: {_last_line(self._stderr.read())}")
        return json.loads(line)

    def request(self, **req: Any) -> dict[str, Any]:
        """Send one request; return the reply or raise :class:`PeersError` with its error."""
        if self.proc.poll() is not None:
            raise PeersError(f"the peers worker is not running (exit {self.proc.returncode})")
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise PeersError(reply.get("error", "unknown worker error"))
        return reply

    def scratch_file(self, tag: str) -> Path:
        """A fresh ``.npy`` path in the scratch folder."""
        self._count += 1
        return self.scratch / f"{tag}-{self._count}.npy"

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop)."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._stderr.close()


# ---------------------------------------------------------------- methods


@dataclass
class TimingInput:
    """One benchmark image: its label (``WxH``), RGB pixels and a BGR ``.npy`` for the worker."""

    label: str
    rgb: np.ndarray
    bgr_path: Path

    @property
    def megapixels(self) -> float:
        return self.rgb.shape[0] * self.rgb.shape[1] / 1e6


class Method(Protocol):
    """A way to upscale by one scale: ``name``, ``backend``, untimed ``prepare``, ``time``, ``upsample``."""

    name: str
    backend: str

    def prepare(self) -> None: ...

    def time(self, item: TimingInput, repeat: int) -> list[float]: ...

    def upsample(self, lrs: list[np.ndarray]) -> list[np.ndarray]: ...


class PeerMethod:
    """An OpenCV ``dnn_superres`` graph (or ``cv2.resize`` for ``algo == "bicubic"``) in the worker."""

    def __init__(self, worker: PeerWorker, name: str, algo: str, scale: int, peers_dir: Path) -> None:
        self.worker, self.name, self.scale = worker, name, scale
        self.backend = "OpenCV dnn_superres"
        self.spec = {"algo": algo, "scale": scale, "file": str(peers_dir / f"{name}_x{scale}.pb")}

    def prepare(self) -> None:
        if self.spec["algo"] != "bicubic" and not Path(self.spec["file"]).is_file():
            raise PeersError(f"graph not found: {self.spec['file']}")
        self.worker.request(op="load", **self.spec)

    def time(self, item: TimingInput, repeat: int) -> list[float]:
        return self.worker.request(op="time", input=str(item.bgr_path), repeat=repeat, **self.spec)["times"]

    def upsample(self, lrs: list[np.ndarray]) -> list[np.ndarray]:
        inputs = [self.worker.scratch_file("lr") for _ in lrs]
        outputs = [self.worker.scratch_file("sr") for _ in lrs]
        for path, lr in zip(inputs, lrs):
            np.save(path, np.ascontiguousarray(lr[:, :, ::-1]))
        self.worker.request(
            op="upsample", inputs=[str(p) for p in inputs], outputs=[str(p) for p in outputs], **self.spec
        )
        results = [np.load(p)[:, :, ::-1] for p in outputs]
        for path in inputs + outputs:
            path.unlink(missing_ok=True)
        return results


class BicubicMethod(PeerMethod):
    """Reference row: timed as ``cv2.resize`` in the worker, scored as MATLAB bicubic."""

    def __init__(self, worker: PeerWorker, scale: int, peers_dir: Path) -> None:
        super().__init__(worker, "bicubic", "bicubic", scale, peers_dir)
        self.backend = "cv2.resize INTER_CUBIC (time), MATLAB bicubic (PSNR)"

    def upsample(self, lrs: list[np.ndarray]) -> list[np.ndarray]:
        from bbcu_cli.evaluate import bicubic_baseline, quantize

        up = bicubic_baseline(self.scale)
        return [quantize(up(lr / 255.0)) for lr in lrs]


class BbcuMethod:
    """A shipped bbcu SR model run in this process by :class:`Restorer`, as ``bbcu upscale -m NAME``
    runs it."""

    def __init__(self, name: str, scale: int, threads: int) -> None:
        self.name, self.scale, self.threads = name, scale, threads
        self.backend = "?"
        self.restorer: Any = None

    def prepare(self) -> None:
        from bbcu_cli.engine.restore import Restorer
        from bbcu_cli.factory import resolve_model

        loaded = resolve_model(self.name, task="sr", scale=self.scale).model
        self.restorer = Restorer(loaded, backend="auto", device="cpu", threads=self.threads, tile=0)
        self.backend = self.restorer.backend_name

    def time(self, item: TimingInput, repeat: int) -> list[float]:
        return time_calls(lambda: self.restorer.restore(item.rgb, out_dtype=np.uint8), repeat)

    def upsample(self, lrs: list[np.ndarray]) -> list[np.ndarray]:
        from bbcu_cli.evaluate import quantize

        return [quantize(self.restorer.restore(lr, out_dtype=np.float32)) for lr in lrs]


def time_calls(run: Callable[[], object], repeat: int) -> list[float]:
    """One warm-up call, then ``repeat`` timed calls (seconds each)."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def shipped_sr_models(scale: int) -> list[str]:
    """Names of the bundled ``sr`` models of ``scale``, in manifest order."""
    from bbcu_cli.weights.cache import get_manifest

    return [m.name for m in get_manifest().models if m.task == "sr" and m.bundled and m.scale == scale]


def methods_for(scale: int, worker: PeerWorker | None, peers_dir: Path, threads: int) -> list[Method]:
    """Bicubic and the peers (when the worker runs), then every shipped bbcu model of ``scale``."""
    methods: list[Method] = []
    if worker is not None:
        methods.append(BicubicMethod(worker, scale, peers_dir))
        methods += [PeerMethod(worker, name, algo, scale, peers_dir) for name, algo in PEERS]
    return methods + [BbcuMethod(name, scale, threads) for name in shipped_sr_models(scale)]


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One method at one scale: timings per size label, PSNR per set, and its errors."""

    method: str
    backend: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)
    psnr: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def seconds(self, label: str) -> float | None:
        runs = self.runs.get(label)
        return statistics.median(runs) if runs else None

    def fail(self, where: str, exc: BaseException) -> None:
        message = " ".join(str(exc).split()) or type(exc).__name__
        self.errors.append(f"{where}: {message}")


def attempt(row: Row, where: str, action: Callable[[], Any]) -> Any:
    """Run ``action``; on any error note it in ``row`` and return None."""
    try:
        return action()
    except Exception as exc:  # one failing method must not stop the others
        row.fail(where, exc)
        return None


# ---------------------------------------------------------------- inputs


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``; argparse type."""
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or min(int(match[1]), int(match[2])) < 16:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: expected WIDTHxHEIGHT, each >= 16, e.g. 320x180")
    return int(match[1]), int(match[2])


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def photo_cells(bench_dir: Path) -> list[np.ndarray]:
    """Centre ``MOSAIC_CELL``-square crops of the B100 photos (Set14 if B100 is missing), sorted."""
    from bbcu_cli.evaluate import EvalConfig, list_dataset, load_clean

    for name in ("B100", "Set14"):
        folder = bench_dir / name
        if folder.is_dir():
            images = (load_clean(p, EvalConfig("sr", 1)) for p in list_dataset(folder))
            cells = [centre_crop(img, MOSAIC_CELL) for img in images if min(img.shape[:2]) >= MOSAIC_CELL]
            if cells:
                return cells
    raise PeersError(f"no benchmark photos of at least {MOSAIC_CELL}x{MOSAIC_CELL} under {bench_dir}")


def centre_crop(img: np.ndarray, side: int) -> np.ndarray:
    """The central ``side x side`` square of ``img``."""
    top, left = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    return img[top : top + side, left : left + side]


def mosaic(cells: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """RGB uint8 ``(height, width, 3)``: the cells tiled row by row, in order, then cropped."""
    cols, rows = -(-width // MOSAIC_CELL), -(-height // MOSAIC_CELL)
    grid = [np.concatenate([cells[(r * cols + c) % len(cells)] for c in range(cols)], axis=1) for r in range(rows)]
    return np.ascontiguousarray(np.concatenate(grid, axis=0)[:height, :width])


def timing_inputs(sizes: list[tuple[int, int]], bench_dir: Path, scratch: Path) -> list[TimingInput]:
    """One mosaic per size, with its BGR copy saved for the worker."""
    cells = photo_cells(bench_dir)
    items = []
    for width, height in sizes:
        rgb = mosaic(cells, width, height)
        path = scratch / f"input-{width}x{height}.npy"
        np.save(path, np.ascontiguousarray(rgb[:, :, ::-1]))
        items.append(TimingInput(f"{width}x{height}", rgb, path))
    return items


def benchmark_set(folder: Path, scale: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(HR modcropped, LR MATLAB-bicubic) uint8 RGB pairs of a benchmark folder."""
    from bbcu_cli.degrade import bicubic_downscale_uint8, modcrop
    from bbcu_cli.evaluate import EvalConfig, list_dataset, load_clean

    paths = list_dataset(folder)
    if not paths:
        raise PeersError(f"no images in {folder}")
    hrs = [np.ascontiguousarray(modcrop(load_clean(p, EvalConfig("sr", scale)), scale)) for p in paths]
    return hrs, [bicubic_downscale_uint8(hr, scale) for hr in hrs]


def mean_y_psnr(outputs: list[np.ndarray], hrs: list[np.ndarray], scale: int) -> float:
    """Mean Y-PSNR (``scale``-pixel border crop) of uint8 outputs against uint8 HR images."""
    from bbcu_cli.metrics import image_metrics

    values = [image_metrics(out / 255.0, hr / 255.0, crop=scale, space="y")[0] for out, hr in zip(outputs, hrs)]
    return float(np.mean(values))


# ---------------------------------------------------------------- running


def run_speed(methods: list[Method], rows: dict[str, Row], items: list[TimingInput], repeat: int) -> None:
    """For each size, every method back to back on the same image."""
    for item in items:
        for method in methods:
            row = rows[method.name]
            runs = attempt(row, item.label, lambda: method.time(item, repeat))
            if runs:
                row.runs[item.label] = [float(t) for t in runs]
            print(
                f"  {item.label} {method.name}: {fmt_seconds(row.seconds(item.label))} s", file=sys.stderr, flush=True
            )


def run_quality(methods: list[Method], rows: dict[str, Row], sets: list[str], bench_dir: Path, scale: int) -> list[str]:
    """Mean Y-PSNR of every method on each benchmark set; returns one note per unreadable set."""
    notes = []
    for set_name in sets:
        try:
            hrs, lrs = benchmark_set(bench_dir / set_name, scale)
        except Exception as exc:  # a missing set blanks its column, the rest goes on
            notes.append(f"{set_name}: {' '.join(str(exc).split())}")
            continue
        for method in methods:
            value = attempt(
                rows[method.name], set_name, lambda: mean_y_psnr(checked(method.upsample(lrs), hrs), hrs, scale)
            )
            if value is not None:
                rows[method.name].psnr[set_name] = value
    return notes


def checked(outputs: list[np.ndarray], hrs: list[np.ndarray]) -> list[np.ndarray]:
    """``outputs`` as uint8 RGB; raises ValueError when a shape differs from its HR image."""
    for out, hr in zip(outputs, hrs):
        if out.shape != hr.shape:
            raise ValueError(f"output shape {out.shape} differs from HR {hr.shape}")
    return [np.asarray(out, dtype=np.uint8) for out in outputs]


def prepare(method: Method, row: Row) -> bool:
    """Load ``method`` (untimed); note its backend, or its error in ``row``."""
    try:
        method.prepare()
    except Exception as exc:  # noted; the other methods go on
        row.fail("load", exc)
        return False
    row.backend = method.backend
    return True


def run_scale(
    scale: int, worker: PeerWorker | None, args: argparse.Namespace, items: list[TimingInput]
) -> tuple[dict[str, Row], list[str]]:
    """Load every method of ``scale``, time them, then score them; returns rows and notes."""
    methods = methods_for(scale, worker, args.peers_dir, args.threads)
    rows = {m.name: Row(m.name) for m in methods}
    ready = [m for m in methods if prepare(m, rows[m.name])]
    run_speed(ready, rows, items, args.repeat)
    notes = [] if args.no_quality else run_quality(ready, rows, args.sets, args.bench_dir, scale)
    return rows, notes


# ---------------------------------------------------------------- report


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``, else ``lscpu``, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        found = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if found:
            return found[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(threads: int, worker: PeerWorker | None) -> dict[str, Any]:
    """CPU, bbcu kernel ISA, threads and library versions."""
    import torch

    from bbcu_cli import kernels

    status = kernels.status()
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "kernel_isa": status.label if status.available else f"none ({status.reason})",
        "threads": threads,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": worker.hello.get("opencv") if worker else None,
        "python": platform.python_version(),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['cpu']} ({info['cores']} logical cores) | bbcu packed kernel ISA: {info['kernel_isa']} | "
        f"threads: {info['threads']} | torch {info['torch']} | OpenCV {info['opencv'] or 'unavailable'} (contrib, peers venv)"
    )


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


def size_cells(row: Row, ref: Row | None, item: TimingInput) -> list[str]:
    """Seconds, megapixels/s and time ratio to the reference row for one size."""
    secs = row.seconds(item.label)
    ref_secs = ref.seconds(item.label) if ref else None
    mps = f"{item.megapixels / secs:.2f}" if secs else "-"
    ratio = f"{secs / ref_secs:.2f}x" if secs and ref_secs else "-"
    return [fmt_seconds(secs), mps, ratio]


def table(
    scale: int, rows: dict[str, Row], items: list[TimingInput], sets: list[str], args: argparse.Namespace
) -> list[str]:
    """The markdown table of ``scale`` (a title line, a blank line, then the table)."""
    head = ["method", "backend"]
    for item in items:
        head += [f"{item.label} s", "MP/s", f"vs {REFERENCE}"]
    head += [f"{s} Y-PSNR" for s in sets]
    ref = rows.get(REFERENCE)
    lines = [
        f"### x{scale}: median of {args.repeat} runs after one warm-up, {args.threads} threads; "
        f"MP/s = input megapixels per second; vs {REFERENCE} = time / {REFERENCE}'s time",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows.values():
        cells = [row.method, row.backend or "-"]
        for item in items:
            cells += size_cells(row, ref, item)
        cells += [f"{row.psnr[s]:.2f}" if s in row.psnr else "-" for s in sets]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


#: issue #16: time may grow at most this much faster than the pixels between two sizes
GROWTH_SLACK = 1.15


def growth(row: Row, small: TimingInput, big: TimingInput) -> tuple[float, float] | None:
    """Time ratio big / small from the medians and from the fastest runs (None if not timed)."""
    a, b = row.runs.get(small.label), row.runs.get(big.label)
    if not a or not b:
        return None
    return statistics.median(b) / statistics.median(a), min(b) / min(a)


def growth_lines(rows: dict[str, Row], items: list[TimingInput]) -> list[str]:
    """How time grows with pixels between consecutive sizes, per method: the medians' ratio,
    the fastest runs' ratio, and whether the medians stay within the pixels' ratio times
    :data:`GROWTH_SLACK` (the fastest runs are less disturbed by a noisy machine)."""
    pairs = list(zip(items, items[1:]))
    if not pairs:
        return []
    head = ["method"] + [f"{b.label} / {a.label} (pixels x{b.megapixels / a.megapixels:.1f})" for a, b in pairs]
    lines = ["", "Time growth, medians' ratio (fastest runs' ratio):", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for row in rows.values():
        cells = [row.method]
        for a, b in pairs:
            g = growth(row, a, b)
            limit = GROWTH_SLACK * b.megapixels / a.megapixels
            cells.append("-" if g is None else f"{g[0]:.2f}x ({g[1]:.2f}x){'' if g[0] <= limit else ' over'}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def failure_lines(scale: int, rows: dict[str, Row], notes: list[str]) -> list[str]:
    """One line per failing method, then one per note (e.g. an unreadable benchmark set)."""
    lines = [f"- {row.method} x{scale} failed: {'; '.join(row.errors)}" for row in rows.values() if row.errors]
    return lines + [f"- x{scale} quality: {note}" for note in notes]


def size_json(row: Row, ref: Row | None, item: TimingInput) -> dict[str, Any]:
    """Seconds (median and every run), megapixels/s and time ratio to the reference, one size."""
    secs = row.seconds(item.label)
    ref_secs = ref.seconds(item.label) if ref else None
    return {
        "seconds": secs,
        "runs": row.runs.get(item.label),
        "megapixels_per_s": item.megapixels / secs if secs else None,
        f"time_vs_{REFERENCE}": secs / ref_secs if secs and ref_secs else None,
    }


def to_json(
    info: dict[str, Any],
    args: argparse.Namespace,
    results: dict[int, tuple[dict[str, Row], list[str]]],
    items: list[TimingInput],
) -> dict[str, Any]:
    """Every number of the run, JSON-ready."""
    out: dict[str, Any] = {
        "machine": info,
        "repeat": args.repeat,
        "sizes": [i.label for i in items],
        "sets": [] if args.no_quality else args.sets,
        "scales": {},
    }
    for scale, (rows, notes) in results.items():
        ref = rows.get(REFERENCE)
        methods = {
            name: {
                "backend": row.backend,
                "sizes": {i.label: size_json(row, ref, i) for i in items},
                "y_psnr": row.psnr,
                "errors": row.errors,
            }
            for name, row in rows.items()
        }
        out["scales"][str(scale)] = {"methods": methods, "notes": notes}
    return out


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits with an error on bad ones)."""
    ap = argparse.ArgumentParser(
        description="Time and score bbcu's shipped SR models against FSRCNN, FSRCNN-small, ESPCN and bicubic."
    )
    ap.add_argument("--scales", nargs="+", type=int, choices=(2, 3, 4), default=[4, 2], help="SR scales (default: 4 2)")
    ap.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[parse_size(s) for s in DEFAULT_SIZES],
        metavar="WxH",
        help="input sizes (default: %s)" % " ".join(DEFAULT_SIZES),
    )
    ap.add_argument(
        "--repeat", type=positive_int, default=5, help="timed runs per measurement, after one warm-up (default 5)"
    )
    ap.add_argument("--threads", type=positive_int, default=2, help="CPU threads for every method (default 2)")
    ap.add_argument(
        "--sets",
        nargs="+",
        default=["Set5", "Set14"],
        metavar="SET",
        help="benchmark sets for Y-PSNR (default: Set5 Set14)",
    )
    ap.add_argument("--no-quality", action="store_true", help="skip the Y-PSNR columns")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write every number as JSON")
    ap.add_argument(
        "--venv",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"peers venv, built there once (default: {default_venv()})",
    )
    ap.add_argument(
        "--peers-dir",
        type=Path,
        default=SHARED / "peers",
        metavar="DIR",
        help="folder of the peer .pb graphs (default: ../shared/peers)",
    )
    ap.add_argument(
        "--bench-dir",
        type=Path,
        default=SHARED / "datasets" / "bench",
        metavar="DIR",
        help="benchmark image folders: Set5, Set14, B100 (default: ../shared/datasets/bench)",
    )
    args = ap.parse_args(argv)
    args.venv = args.venv or default_venv()
    args.scales = list(dict.fromkeys(args.scales))
    args.sizes = list(dict.fromkeys(args.sizes))
    return args


def start_worker(args: argparse.Namespace, scratch: Path) -> tuple[PeerWorker | None, str]:
    """The peers worker (building the venv if needed), or None and the reason it cannot start.

    Raises:
        PeersError: the venv cannot be built.
    """
    python = ensure_venv(args.venv)
    try:
        return PeerWorker(python, args.threads, scratch), ""
    except (PeersError, OSError, ValueError) as exc:
        return None, " ".join(str(exc).split())


def report(args: argparse.Namespace, worker: PeerWorker | None, why: str, scratch: Path) -> dict[str, Any]:
    """Time and score every scale, printing each table as soon as it is done."""
    info = machine_info(args.threads, worker)
    print(machine_line(info), flush=True)
    if worker is None:
        print(f"- peers (bicubic, {', '.join(n for n, _ in PEERS)}) failed: {why}", flush=True)
    items = timing_inputs(args.sizes, args.bench_dir, scratch)
    sets = [] if args.no_quality else args.sets
    results: dict[int, tuple[dict[str, Row], list[str]]] = {}
    for scale in args.scales:
        rows, notes = results[scale] = run_scale(scale, worker, args, items)
        lines = table(scale, rows, items, sets, args) + growth_lines(rows, items) + failure_lines(scale, rows, notes)
        print("\n" + "\n".join(lines), flush=True)
    return to_json(info, args, results, items)


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Build/start the peers, run the report, stop the worker; return the JSON summary."""
    import torch

    torch.set_num_threads(args.threads)
    worker, why = start_worker(args, scratch)
    try:
        return report(args, worker, why, scratch)
    finally:
        if worker is not None:
            worker.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 when the peers venv cannot be built or no input exists."""
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="bbcu-peers-") as tmp:
            summary = run(args, Path(tmp))
    except PeersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
