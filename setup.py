"""Optional C extension build for bbcu-cli (metadata lives in pyproject.toml).

``pip install .``, ``pip install -e .`` and ``pip wheel .`` compile ``bbcu_cli.kernels._bitconv``,
the XNOR/popcount kernels. The build is optional: if the compiler is missing or fails, a warning
is printed and the package installs anyway (the packed backend then reports "extension not
built" and the float path is used). For a source checkout::

    python setup.py build_ext --inplace

No build-time dependency on torch and no ``-march=native``: the AVX2 / AVX-512 variants use
per-function target attributes and are chosen at run time by CPU feature detection.
"""

from __future__ import annotations

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_DIR = "bbcu_cli/kernels"
HEADERS = [
    "bitconv.h",
    "bitconv_tmpl.h",
    "bitconv_scalar.h",
    "bitconv_avx2.h",
    "bitconv_avx512.h",
    "bitconv_amx.h",
    "bitconv_amx_epi.h",
    "bitconv_neon.h",
    "bitconv_pool.h",
    "bitconv_chain.h",
    "fptail.h",
    "fphead.h",
    "pngfilter.h",
]


class OptionalBuildExt(build_ext):
    """build_ext that adapts flags to the compiler and never fails the install."""

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args = ["/O2", "/fp:precise", "/DBC_PYTHON_MODULE"]
        else:
            ext.extra_compile_args = [
                "-O3",
                "-std=c11",
                "-ffp-contract=off",
                "-fno-trapping-math",
                "-fno-strict-aliasing",
                "-DBC_PYTHON_MODULE",
            ]
            ext.extra_link_args = ["-pthread", "-lm"]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - any compiler/linker failure is non-fatal
            if self.compiler.compiler_type == "msvc" or self._without_amx(ext):
                self.warn(f"bbcu-cli: building the packed kernels failed ({exc}); the float backend will be used")

    def _without_amx(self, ext: Extension) -> bool:
        """Retry without the AMX tile path (an assembler too old for its instructions); True if
        that build failed too."""
        ext.extra_compile_args = [*ext.extra_compile_args, "-DBC_NO_AMX"]
        try:
            super().build_extension(ext)
        except Exception:  # noqa: BLE001
            return True
        self.warn("bbcu-cli: packed kernels built without the AMX tile path (the compiler refused it)")
        return False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - e.g. no compiler at all
            self.warn(f"bbcu-cli: C extension not built ({exc}); the float backend will be used")


setup(
    ext_modules=[
        Extension(
            "bbcu_cli.kernels._bitconv",
            sources=[f"{KERNEL_DIR}/bitconv.c"],
            depends=[f"{KERNEL_DIR}/{h}" for h in HEADERS],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
