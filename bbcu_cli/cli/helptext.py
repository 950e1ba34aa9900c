"""Help that teaches: examples, the default model per task and scale, the environment variables.

Everything here is read from the weights manifest (shipped + the user's ``models.json``)
without importing torch, so ``bbcu --help`` and ``bbcu upscale --help`` stay instant.
"""

from __future__ import annotations

__all__ = ["default_models", "default_sr_scales", "command_epilog", "ENVIRONMENT", "environment_epilog"]

#: every environment variable bbcu reads, with what it does (README "Environment variables")
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("BBCU_CACHE_DIR", "weights cache folder (default: the platform cache folder 'bbcu')"),
    ("BBCU_OFFLINE", "1: never use the network (same as --offline)"),
    ("BBCU_WEIGHTS_URL", "mirror tried first for downloads (https://... or file:///...)"),
    ("BBCU_DOWNLOAD_RETRIES", "download attempts per URL (default 3)"),
    ("BBCU_DOWNLOAD_BACKOFF", "seconds between retries, doubled each time (default 1)"),
    ("BBCU_DOWNLOAD_TIMEOUT", "network timeout in seconds (default 30)"),
    ("BBCU_DEBUG", "1: debug logging and tracebacks (same as -v)"),
    ("BBCU_DISABLE_PACKED", "1: never use the packed XNOR/popcount kernel"),
    ("BBCU_NO_LITE", "1: restore on the torch runtime (default: BBCU-P/DnCNN project files run torch-free)"),
    ("CUDA_VISIBLE_DEVICES", "'' or -1 hides GPUs; with a GPU visible, --device auto restores through torch (CUDA)"),
    ("BBCU_KERNEL_ISA", "force the kernel ISA: avx512, avx2, neon, portable (default: best)"),
    ("BBCU_KERNEL_AMX", "0: binary convs on VPOPCNTQ even where AMX tiles are usable (same results)"),
    ("BBCU_KERNEL_LIB", "path of a compiled kernel library to load instead of the built one"),
    ("BBCU_MALLOC_TUNING", "0: keep glibc's malloc settings for large tensors"),
    ("BBCU_COMPILE", "1: torch.compile the folded CUDA path"),
    ("OMP_WAIT_POLICY", "OpenMP wait policy; bbcu sets PASSIVE for inference unless already set"),
    ("RANK, WORLD_SIZE, LOCAL_RANK", "set by torchrun for 'bbcu train' on several processes"),
    ("https_proxy, http_proxy, no_proxy", "proxies used for weight downloads"),
)

_EXAMPLES: dict[str, tuple[str, ...]] = {
    "sr": (
        "bbcu upscale photo.png -s 4                  # photo_x4.png beside it",
        "bbcu upscale photo.png --outscale 1.5        # x2 model, resized to exactly 1.5x",
        "bbcu upscale shots/ -r                       # every image -> shots_x4/, rerun-safe",
        "bbcu upscale lr.png -s 4 --ref hr.png        # PSNR/SSIM (Y, crop 4)",
    ),
    "denoise": (
        "bbcu denoise scan.png                        # noise level estimated and reported",
        "bbcu denoise photos/ --sigma 25              # every image -> photos_denoised/",
        "bbcu denoise noisy.png --ref clean.png -v    # PSNR/SSIM (RGB), debug log",
    ),
    "deblock": (
        "bbcu deblock photo.jpg --format png          # photo_deblocked.png",
        "bbcu deblock jpegs/ -o clean/ --json         # a folder, JSON summary on stdout",
        "bbcu deblock a.jpg --ref a.png               # PSNR/SSIM (gray; RGB for colour)",
    ),
    "metrics": (
        "bbcu metrics out.png ref.png                 # RGB (gray for gray images)",
        "bbcu metrics shots_x4/ hr/ --y --crop 4      # SR protocol; ARMS_x4.png pairs with ARMS.png",
        "bbcu metrics out/ refs/ --json               # same JSON schema as the restore commands",
    ),
}


def default_models() -> dict[tuple[str, int], str]:
    """``{(task, scale): model name}`` of the default models in the manifest (empty if unreadable)."""
    try:
        from ..weights.cache import get_manifest

        manifest = get_manifest()
    except Exception:  # a broken user manifest must not break --help; commands report it
        return {}
    return {(m.task, m.scale): m.name for m in manifest.models if m.default}


def default_sr_scales() -> list[int]:
    """Scales that have a default SR model, ascending (``[2, 4]``, or ``[2, 3, 4]``)."""
    return sorted(scale for task, scale in default_models() if task == "sr")


def _defaults_line(task: str) -> str:
    found = sorted((scale, name) for (t, scale), name in default_models().items() if t == task)
    if not found:
        return "Default model: none installed (see bbcu models)."
    if task == "sr":
        listed = ", ".join(f"x{scale} {name}" for scale, name in found)
        hint = "" if 3 in dict(found) else "; -s 3: use --outscale 3"
        return f"Default models: {listed}{hint} (bbcu models lists all)."
    return f"Default model: {found[0][1]} (bbcu models lists all)."


def command_epilog(task: str) -> str:
    """The end of a command's ``--help``: the default model(s) and 2-4 examples."""
    lines = [] if task == "metrics" else [_defaults_line(task), ""]
    lines += ["Examples:", *(f"  {line}" for line in _EXAMPLES[task])]
    return "\b\n" + "\n".join(lines)


def environment_epilog() -> str:
    """The end of ``bbcu --help``: every environment variable bbcu reads."""
    rows = [f"  {name}: {meaning}" for name, meaning in ENVIRONMENT]
    return "\b\nEnvironment variables:\n" + "\n".join(rows)
