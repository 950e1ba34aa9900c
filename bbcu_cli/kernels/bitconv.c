/*
 * bitconv: XNOR/popcount binary 3x3 convolution units for BBCU (see bitconv.h).
 *
 * One translation unit holds every ISA variant (portable; AVX2 and AVX-512 VPOPCNTDQ on x86
 * through per-function target attributes, and beside AVX-512 the AMX tile conv of
 * bitconv_amx.h where the CPU and OS allow it; NEON on AArch64), a small pthread pool that splits
 * image rows across threads (no OpenMP: torch ships its own runtime), the wavefront that runs
 * a chain of units band by band on it (bitconv_chain.h), and a tiny CPython
 * module init so setuptools builds it as an extension; Python calls the kernels via ctypes.
 * Build with -ffp-contract=off: the float epilogue must round exactly like PyTorch.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* syscall() (AMX permission) and sched_yield() under -std=c11 */
#endif
#ifdef BC_PYTHON_MODULE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitconv.h"

#if defined(__x86_64__) || defined(__i386__)
#define BC_X86 1
#endif
#if defined(__aarch64__)
#define BC_ARM64 1
#endif

/* ------------------------------------------------------------------ jobs and scratch */

typedef struct bc_job {
    const void *args;
    int failed;
} bc_job;

typedef void (*bc_rows_fn)(void *job, int r0, int r1);

static void bc_job_fail(bc_job *job) { __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED); }

typedef struct bc_scratch_mem {
    int32_t *S; /* raw counts of one pixel */
} bc_scratch_mem;

static int bc_scratch_alloc(bc_scratch_mem *m, int co8)
{
    m->S = (int32_t *)calloc((size_t)co8 + 16, sizeof(int32_t));
    return m->S ? 0 : -1;
}

static void bc_scratch_free(bc_scratch_mem *m) { free(m->S); }

/* ------------------------------------------------------------------ ISA variants */

#include "bitconv_scalar.h"

#define SFX(name) name##_portable
#define BC_T
#include "bitconv_tmpl.h"
#undef SFX
#undef BC_T

#ifdef BC_X86
#include <immintrin.h>
#define BC_INL static inline __attribute__((always_inline))
#include "bitconv_avx2.h"
#include "bitconv_avx512.h"
#define SFX(name) name##_avx2
#define BC_T BC_TGT_AVX2
#include "bitconv_tmpl.h"
#undef SFX
#undef BC_T
#define SFX(name) name##_avx512
#define BC_T BC_TGT_AVX512
#include "bitconv_tmpl.h"
#undef SFX
#undef BC_T
/* AVX2 for units with C_in <= 32 (32-bit weight lanes, see bitconv_avx2.h); only its unit rows are used */
#define SFX(name) name##_avx2n
#define BC_T BC_TGT_AVX2 __attribute__((unused))
#include "bitconv_tmpl.h"
#undef SFX
#undef BC_T
#endif

#ifdef BC_ARM64
#include "bitconv_neon.h"
#define SFX(name) name##_neon
#define BC_T
#include "bitconv_tmpl.h"
#undef SFX
#undef BC_T
#endif

#include "fptail.h"
#include "fphead.h"

typedef struct bc_impl {
    bc_rows_fn unit, entry;
} bc_impl;

static const bc_impl bc_impls[4] = {
    {unit_rows_portable, entry_rows_portable},
#ifdef BC_X86
    {unit_rows_avx2, entry_rows_avx2},
    {unit_rows_avx512, entry_rows_avx512},
#else
    {NULL, NULL},
    {NULL, NULL},
#endif
#ifdef BC_ARM64
    {unit_rows_neon, entry_rows_neon},
#else
    {NULL, NULL},
#endif
};

/* ------------------------------------------------------------------ CPU features */

BC_API unsigned bc_cpu_features(void)
{
    unsigned f = 0;
#ifdef BC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) f |= BC_F_POPCNT;
    if (__builtin_cpu_supports("avx2")) f |= BC_F_AVX2;
    if (__builtin_cpu_supports("fma")) f |= BC_F_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= BC_F_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= BC_F_AVX512BW;
    if (__builtin_cpu_supports("avx512vpopcntdq")) f |= BC_F_AVX512VPOPCNTDQ;
#endif
#ifdef BC_ARM64
    f |= BC_F_NEON;
#endif
    return f;
}

BC_API int bc_abi_version(void) { return BC_ABI_VERSION; }

BC_API unsigned bc_compiled_isas(void)
{
    unsigned m = 0;
    for (int i = 0; i < 4; i++)
        if (bc_impls[i].unit) m |= 1u << i;
    return m;
}

static unsigned bc_isa_needs(int isa)
{
    switch (isa) {
    case BC_ISA_AVX2: return BC_F_AVX2 | BC_F_POPCNT;
#ifdef BC_EMULATE_AVX512
    case BC_ISA_AVX512: return BC_F_AVX2 | BC_F_POPCNT;
#else
    case BC_ISA_AVX512: return BC_F_AVX512F | BC_F_AVX512BW | BC_F_AVX512VPOPCNTDQ | BC_F_POPCNT;
#endif
    case BC_ISA_NEON: return BC_F_NEON;
    default: return 0;
    }
}

BC_API int bc_isa_usable(int isa)
{
    if (isa < 0 || isa > 3 || !bc_impls[isa].unit) return 0;
    const unsigned need = bc_isa_needs(isa);
    return (bc_cpu_features() & need) == need;
}

BC_API int bc_best_isa(void)
{
    static const int order[] = {BC_ISA_AVX512, BC_ISA_AVX2, BC_ISA_NEON};
    for (int i = 0; i < 3; i++)
        if (bc_isa_usable(order[i])) return order[i];
    return BC_ISA_PORTABLE;
}

static int bc_isa = -1;

BC_API int bc_set_isa(int isa)
{
    if (isa < 0 || isa > 3 || !bc_impls[isa].unit) return -1;
    if (!bc_isa_usable(isa)) return -2;
    __atomic_store_n(&bc_isa, isa, __ATOMIC_RELAXED);
    return 0;
}

BC_API int bc_get_isa(void)
{
    int isa = __atomic_load_n(&bc_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = bc_best_isa();
        __atomic_store_n(&bc_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

/* ------------------------------------------------------------------ thread pool */

#include "bitconv_pool.h"
#include "pngfilter.h"
#include "bitconv_amx.h"

/* ------------------------------------------------------------------ AMX switch */

static int bc_amx_want = 1; /* on by default where usable */

BC_API int bc_amx_usable(void)
{
#ifdef BC_HAVE_AMX
    return bc_isa_usable(BC_ISA_AVX512) && bc_amx_ok();
#else
    return 0;
#endif
}

BC_API int bc_set_amx(int on)
{
    if (on && !bc_amx_usable()) return -1;
    __atomic_store_n(&bc_amx_want, on ? 1 : 0, __ATOMIC_RELAXED);
    return 0;
}

/* Whether units run on AMX tiles now: wanted, usable, and the AVX-512 ISA selected. */
BC_API int bc_get_amx(void)
{
    return __atomic_load_n(&bc_amx_want, __ATOMIC_RELAXED) && bc_get_isa() == BC_ISA_AVX512 && bc_amx_usable();
}

/* ------------------------------------------------------------------ entry points */

static int bc_words(int c) { return (c + 63) / 64; }

static int bc_unit_invalid(const bc_unit *u)
{
    if (u->H < 1 || u->W < 1 || u->cin < 1 || u->r < 1 || u->r > 8) return 1;
    if (u->chr != u->cin || u->cout != u->r * u->r * u->chr) return 1;
    if (u->post_act < BC_ACT_NONE || u->post_act > BC_ACT_LRELU) return 1;
    if (u->nw_in != bc_words(u->cin) || u->co8 < u->cout || u->co8 % 8) return 1;
    if (!u->pin || !u->min || !u->zin || !u->wt || !u->ecorr) return 1;
    if (u->counts) return 0;
    if (!u->alpha || !u->b0 || !u->pa || !u->b1 || !u->xres || !u->yout) return 1;
    if (u->has_bias && !u->bias) return 1;
    if (u->bnext && (u->nw_out != bc_words(u->chr) || !u->pout || !u->mout || !u->zout)) return 1;
    return 0;
}

BC_API int bc_unit_run(const bc_unit *u, int nthreads)
{
    if (!u || bc_unit_invalid(u)) return -1;
    const int isa = bc_get_isa();
    bc_rows_fn fn = bc_impls[isa].unit;
#ifdef BC_HAVE_AMX
    if (bc_get_amx()) return bc_unit_run_amx(u, nthreads);
#endif
#ifdef BC_X86
    if (isa == BC_ISA_AVX2 && u->cin <= 32) fn = unit_rows_avx2n; /* half-width words: 8 outputs a vector */
#endif
    bc_job job = {u, 0};
    bc_parallel(fn, &job, u->H, nthreads);
    return job.failed ? -2 : 0;
}

static int bc_entry_invalid(const bc_entry *e)
{
    if (e->H < 1 || e->W < 1 || e->C < 1 || e->nw != bc_words(e->C)) return 1;
    if (e->act < BC_ACT_NONE || e->act > BC_ACT_LRELU) return 1;
    return !e->src || !e->dst || !e->bnext || !e->pout || !e->mout || !e->zout;
}

BC_API int bc_entry_run(const bc_entry *e, int nthreads)
{
    if (!e || bc_entry_invalid(e)) return -1;
    bc_job job = {e, 0};
    bc_parallel(bc_impls[bc_get_isa()].entry, &job, e->H, nthreads);
    return job.failed ? -2 : 0;
}

#include "bitconv_chain.h"

static int bc_finish_invalid(const bc_finish *f)
{
    if (f->Hc < 1 || f->Wc < 1 || f->cz < 1 || f->r < 1 || f->C < 1 || f->Hx < 1 || f->Wx < 1 || f->sb < 1) return 1;
    if (f->cz != f->C * f->r * f->r || (f->mode != BC_FIN_SR && f->mode != BC_FIN_DN)) return 1;
    if (f->mode == BC_FIN_DN && f->sb != 1) return 1;
    if (f->dtype < BC_OUT_F32 || f->dtype > BC_OUT_U16 || !(f->k > 0.0f) || !f->x || !f->dst) return 1;
    const int64_t hout = (int64_t)f->Hx * f->sb, wout = (int64_t)f->Wx * f->sb;
    if (f->y0 < 0 || f->x0 < 0 || f->y1 <= f->y0 || f->x1 <= f->x0 || f->y1 > hout || f->x1 > wout) return 1;
    if (f->y0 / f->r - f->gy0 < 0 || (f->y1 - 1) / f->r - f->gy0 >= f->Hc) return 1;
    if (f->x0 / f->r - f->gx0 < 0 || (f->x1 - 1) / f->r - f->gx0 >= f->Wc) return 1;
    if (f->dst_row < (int64_t)(f->x1 - f->x0) * f->C) return 1;
    if (f->wt) return f->cin < 1 || !f->feat;
    return !f->zin;
}

/* Weights [cz][9][cin] repacked to [9][cin][czp] (czp: cz rounded up to pad, zero padded) and
 * the bias to [czp], for the convs vectorised over outputs; returns the block or NULL. */
static float *bc_ft_repack(const bc_finish *f, int pad, bc_ft_ctx *ctx)
{
    const size_t cin = (size_t)f->cin, cz = (size_t)f->cz, czp = (cz + (size_t)pad - 1) / (size_t)pad * (size_t)pad;
    float *pack = (float *)calloc(9 * cin * czp + czp, sizeof(float));
    if (!pack) return NULL;
    for (size_t co = 0; co < cz; co++) {
        for (size_t t = 0; t < 9; t++)
            for (size_t c = 0; c < cin; c++) pack[(t * cin + c) * czp + co] = f->wt[(co * 9 + t) * cin + c];
        if (f->bias) pack[9 * cin * czp + co] = f->bias[co];
    }
    ctx->wp = pack;
    ctx->b8 = pack + 9 * cin * czp;
    ctx->cz8 = (int)czp;
    return pack;
}

BC_API int bc_finish_run(const bc_finish *f, int nthreads)
{
    if (!f || bc_finish_invalid(f)) return -1;
    bc_rows_fn fn = bc_finish_rows_portable;
    bc_ft_ctx ctx = {*f, NULL, NULL, 0}; /* the row functions get &ctx.f */
    float *pack = NULL;
#ifdef BC_X86
    const int isa = bc_get_isa();
    const int wide = f->wt && f->cz >= 8; /* vectorised over outputs */
    /* AVX-512 only where it vectorises over outputs: with fewer than 8 outputs (conv_last at
     * high resolution) neither 16-lane horizontal sums (30 -> 37 ms for the paper-size x4 tail)
     * nor pixels in lanes from gathered planar rows (-> 40 ms) beat the AVX2 code here */
    if (isa == BC_ISA_AVX512 && (bc_cpu_features() & BC_F_FMA) && wide) {
        fn = bc_finish_rows_avx512;
        if (!(pack = bc_ft_repack(f, 16, &ctx))) return -2;
    } else if ((isa == BC_ISA_AVX2 || isa == BC_ISA_AVX512) && (bc_cpu_features() & BC_F_FMA)) {
        fn = bc_finish_rows_avx2;
        if (wide && !(pack = bc_ft_repack(f, 8, &ctx))) return -2;
    }
#endif
    bc_job job = {&ctx.f, 0};
    const int rows = (f->y1 - 1) / f->r - f->y0 / f->r + 1;
    bc_parallel(fn, &job, rows, nthreads);
    free(pack);
    return job.failed ? -2 : 0;
}

BC_API int bc_head_run(const bc_head *h, int nthreads)
{
    if (!h || h->H < 1 || h->W < 1 || h->cin < 1 || h->cout < 1 || !h->src || !h->wt || !h->dst) return -1;
    const size_t cin = (size_t)h->cin, cout = (size_t)h->cout, co8 = (cout + 7) / 8 * 8;
    double *wp = (double *)calloc(9 * cin * co8, sizeof(double)); /* [9][cin][co8], zero-padded outputs */
    if (!wp) return -2;
    for (size_t r = 0; r < 9 * cin; r++) memcpy(wp + r * co8, h->wt + r * cout, cout * sizeof(double));
    bc_hd_ctx ctx = {*h, wp, (int)co8};
    bc_rows_fn fn = bc_head_rows_portable;
#ifdef BC_X86
    const int isa = bc_get_isa();
    if (isa == BC_ISA_AVX2) fn = bc_head_rows_avx2; /* the same operations, vectorised */
    if (isa == BC_ISA_AVX512) fn = bc_head_rows_512;
#endif
    bc_job job = {&ctx.h, 0};
    bc_parallel(fn, &job, h->H, nthreads);
    free(wp);
    return job.failed ? -2 : 0;
}

/* ------------------------------------------------------------------ CPython module */

#ifdef BC_PYTHON_MODULE
static struct PyModuleDef bc_module = {
    PyModuleDef_HEAD_INIT, "_bitconv",
    "Compiled XNOR/popcount kernels; called through ctypes by bbcu_cli.kernels.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bitconv(void)
{
    PyObject *m = PyModule_Create(&bc_module);
    if (m && PyModule_AddIntConstant(m, "ABI_VERSION", BC_ABI_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
#endif
