/*
 * AMX tile path for the binary conv of a unit (Intel AMX-TILE + AMX-INT8, Linux, x86-64).
 *
 * The same count as the popcount kernels, computed another way: the packed input rows are
 * expanded to int8 (+1 where the sign bit is set, -1 where not, 0 where the non-zero mask is
 * clear, outside the image and past cin), the weights to int8 +-1 in AMX's VNNI order, and
 * TDPBSSD sums the products of all valid taps exactly in int32:
 *   D = sum of +-1 products = base - 2 * mismatches,
 * base being the number of non-zero products (the popcount path's base: 9 * cin inside, fewer
 * at borders, the popcount of the mask words in masked rows), i.e. exactly the count the
 * popcount path's epilogue forms as base - 2 * mismatches. The epilogue here takes D as that
 * count and then does the AVX-512 epilogue's float operations in the same order, so outputs,
 * binary decisions and packed bits are bit for bit the same (tests/engine/test_amx.py).
 *
 * Per output row: three expanded input rows in a ring ((W + 2) pixels, rounded up so that whole
 * 32-pixel blocks can be read), blocks of 32 pixels x 32 outputs (four int32 accumulator tiles,
 * two input tiles, two weight tiles: all eight tile registers), 9 taps x nw_in words of 64
 * channels each, counts of the row stored to D, then the epilogue pixel by pixel.
 *
 * Linux hands out AMX state only after arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA); bc_amx_ok
 * asks once. Compilers without AMX intrinsics (GCC < 11, Clang < 12) build without this path,
 * and setup.py retries with -DBC_NO_AMX when a build with it fails (an old assembler).
 */
#if defined(BC_X86) && defined(__linux__) && defined(__x86_64__) && !defined(BC_EMULATE_AVX512) && !defined(BC_NO_AMX) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define BC_HAVE_AMX 1
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BC_TGT_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vpopcntdq,avx2,popcnt")))

typedef struct bc_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} bc_tilecfg;

/* CPUID reports AMX-TILE and AMX-INT8 and the kernel grants this process the tile data state. */
static int bc_amx_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 24) & 1u) || !((d >> 25) & 1u)) return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

static int bc_amx_ok(void)
{
    static int ok = -1; /* asked once; a race only repeats the harmless request */
    if (__atomic_load_n(&ok, __ATOMIC_RELAXED) < 0) __atomic_store_n(&ok, bc_amx_probe(), __ATOMIC_RELAXED);
    return __atomic_load_n(&ok, __ATOMIC_RELAXED);
}

typedef struct bc_amx_ctx {
    bc_unit u;        /* first member: what the pool's job points at */
    const int8_t *wv; /* [9][nw_in][nb] blocks of 1024 bytes: [k / 4][16 outputs][k % 4] */
    int nb, wr;       /* 16-output blocks; row width in pixels rounded up to 32 */
} bc_amx_ctx;

/* Valid channels of input word w as a byte mask. */
static inline uint64_t bc_amx_valid(const bc_unit *u, int w)
{
    const int left = u->cin - 64 * w;
    return left >= 64 ? ~0ull : (1ull << left) - 1ull;
}

/* The weights as int8 +-1 (0 past cin), each 64-channel word scattered into its VNNI block. */
static BC_TGT_AMX int8_t *bc_amx_weights(const bc_unit *u, int nb)
{
    const size_t nw = (size_t)u->nw_in, bytes = 9 * nw * (size_t)nb * 1024;
    int8_t *wv = (int8_t *)aligned_alloc(64, bytes);
    if (!wv) return NULL;
    memset(wv, 0, bytes);
    const __m512i one = _mm512_set1_epi8(1), mone = _mm512_set1_epi8(-1);
    const __m512i idx = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    for (size_t t = 0; t < 9; t++)
        for (size_t w = 0; w < nw; w++)
            for (int co = 0; co < u->cout; co++) {
                const uint64_t bits = u->wt[(t * nw + w) * (size_t)u->co8 + (size_t)co];
                const __m512i v = _mm512_maskz_mov_epi8(bc_amx_valid(u, (int)w), _mm512_mask_blend_epi8(bits, mone, one));
                int8_t *blk = wv + ((t * nw + w) * (size_t)nb + (size_t)(co / 16)) * 1024 + (size_t)(co % 16) * 4;
                _mm512_i32scatter_epi32(blk, idx, v, 4); /* bytes 4j..4j+3 to row j of the block */
            }
    return wv;
}

/* Padded row py of the input grid (image row py - 1) as int8 [wr + 2][64 * nw_in]. */
static BC_TGT_AMX void bc_amx_expand(const bc_amx_ctx *c, int py, int8_t *dst)
{
    const bc_unit *u = &c->u;
    const int nw = u->nw_in, inside = py >= 1 && py <= u->H;
    const __m512i one = _mm512_set1_epi8(1), mone = _mm512_set1_epi8(-1);
    for (int px = 0; px < c->wr + 2; px++)
        for (int w = 0; w < nw; w++) {
            __m512i v = _mm512_setzero_si512();
            if (inside && px >= 1 && px <= u->W) {
                const size_t o = ((size_t)py * (size_t)(u->W + 2) + (size_t)px) * (size_t)nw + (size_t)w;
                v = _mm512_maskz_mov_epi8(u->min[o], _mm512_mask_blend_epi8(u->pin[o], mone, one));
            }
            _mm512_storeu_si512((void *)(dst + ((size_t)px * (size_t)nw + (size_t)w) * 64), v);
        }
}

/* Counts D [wr][16 * nb] of output row y; ring slot p % 3 holds padded row p. */
static BC_TGT_AMX void bc_amx_row(const bc_amx_ctx *c, const int8_t *ring, int y, int32_t *D)
{
    const int nw = c->u.nw_in, nb = c->nb;
    const size_t K = (size_t)nw * 64, slot = (size_t)(c->wr + 2) * K, ld = (size_t)nb * 64;
    for (int x0 = 0; x0 < c->u.W; x0 += 32)
        for (int n = 0; n < nb; n += 2) {
            const int two = n + 1 < nb;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int t = 0; t < 9; t++) {
                const int8_t *a = ring + (size_t)((y + t / 3) % 3) * slot + (size_t)(x0 + t % 3) * K;
                for (int w = 0; w < nw; w++) {
                    const int8_t *b = c->wv + (((size_t)t * (size_t)nw + (size_t)w) * (size_t)nb + (size_t)n) * 1024;
                    _tile_loadd(4, a + 64 * w, K);
                    _tile_loadd(5, a + 16 * K + 64 * w, K);
                    _tile_loadd(6, b, 64);
                    _tile_dpbssd(0, 4, 6);
                    _tile_dpbssd(2, 5, 6);
                    if (two) {
                        _tile_loadd(7, b + 1024, 64);
                        _tile_dpbssd(1, 4, 7);
                        _tile_dpbssd(3, 5, 7);
                    }
                }
            }
            int32_t *o = D + (size_t)x0 * (size_t)nb * 16 + (size_t)n * 16;
            _tile_stored(0, o, ld);
            _tile_stored(2, o + 16 * (size_t)nb * 16, ld);
            if (two) {
                _tile_stored(1, o + 16, ld);
                _tile_stored(3, o + 16 * (size_t)nb * 16 + 16, ld);
            }
        }
}

/* z of the 16 outputs from q (mask k) from their counts: the AVX-512 epilogue's float operations
 * (bc_rprelu16_avx512) on D, which is the count itself, so the same bits. Reading the counts
 * straight from the tiles' output instead of converting them to mismatches for the shared
 * epilogue made a 64-channel unit ~20% faster (benchmarks/bench_unit.py: 1.55 -> 1.25 ms). */
BC_INL BC_TGT_AMX __m512 bc_amx_z16(const bc_unit *u, int q, const int32_t *D, const float *xr, __mmask16 k)
{
    return bc_rprelu16_avx512(u, q, _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, D)), xr, k);
}

/* 64 channels from q (a whole packed word): stored, packed into *pw / *mw; 1 if one was zero. */
BC_INL BC_TGT_AMX int bc_amx_word(const bc_unit *u, int q, const int32_t *D, const float *xr, float *y,
                                  const float *bn, uint64_t *pw, uint64_t *mw)
{
    __mmask16 gt[4], ne[4];
    for (int h = 0; h < 4; h++) {
        const int c = 16 * h;
        const __m512 z = bc_amx_z16(u, q + c, D + c, xr + c, 0xffff);
        _mm512_storeu_ps(y + c, z);
        const __m512 v = _mm512_add_ps(z, _mm512_loadu_ps(bn + c));
        gt[h] = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
        ne[h] = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    }
    *pw = _cvtmask64_u64(_mm512_kunpackd(_mm512_kunpackw(gt[3], gt[2]), _mm512_kunpackw(gt[1], gt[0])));
    *mw = _cvtmask64_u64(_mm512_kunpackd(_mm512_kunpackw(ne[3], ne[2]), _mm512_kunpackw(ne[1], ne[0])));
    return *mw != ~(uint64_t)0;
}

/* The last unit's output: the post activation applied, nothing packed. */
BC_INL BC_TGT_AMX void bc_amx_last(const bc_unit *u, int q0, const int32_t *D, const float *xr, float *y)
{
    const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(0.1f);
    for (int c = 0; c < u->chr; c += 16) {
        const __mmask16 k = bc_k16(u->chr - c);
        __m512 z = bc_amx_z16(u, q0 + c, D + c, xr + c, k);
        if (u->post_act == BC_ACT_RELU) z = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, zero, _CMP_GT_OQ), z);
        else if (u->post_act == BC_ACT_LRELU)
            z = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, zero, _CMP_GT_OQ), _mm512_mul_ps(z, slope), z);
        _mm512_mask_storeu_ps(y + c, k, z);
    }
}

/* One output pixel's chr channels from q0 (as epipack_avx512: whole words, then a partial one),
 * stored and packed for the next unit into pw / mw; returns 1 if a value + bnext was exactly 0. */
BC_INL BC_TGT_AMX int bc_amx_out(const bc_unit *u, int q0, const int32_t *D, const float *xr, float *y, uint64_t *pw,
                                 uint64_t *mw)
{
    const int C = u->chr;
    int zero_seen = 0, c = 0;
    for (; c + 64 <= C; c += 64)
        zero_seen |= bc_amx_word(u, q0 + c, D + c, xr + c, y + c, u->bnext + c, pw + c / 64, mw + c / 64);
    uint64_t b = 0, m = 0;
    for (; c < C; c += 16) {
        const __mmask16 k = bc_k16(C - c);
        const __m512 z = bc_amx_z16(u, q0 + c, D + c, xr + c, k);
        zero_seen |= bc_store_pack16_avx512(z, k, u->bnext + c, y + c, c, &b, &m);
        if (c + 16 >= C) {
            pw[c >> 6] = b;
            mw[c >> 6] = m;
        }
    }
    return zero_seen;
}

/* Counts (benchmark) or epilogue of every pixel of row y from its D; returns the zero flags (bit i:
 * output row r * y + i holds an exact zero), as unit_rows does. */
static BC_TGT_AMX unsigned bc_amx_emit_row(const bc_unit *unit, int y, const int32_t *D, int ld)
{
    const bc_unit local = *unit; /* as in unit_rows: stores through yout cannot alias it */
    const bc_unit *u = &local;
    const int r = u->r, chr = u->chr;
    const size_t Wo = (size_t)u->W * (size_t)r;
    unsigned zflags = 0;
    for (int x = 0; x < u->W; x++) {
        const int32_t *d = D + (size_t)x * (size_t)ld;
        if (u->counts) {
            memcpy(u->counts + ((size_t)y * (size_t)u->W + (size_t)x) * (size_t)u->cout, d, (size_t)u->cout * sizeof(int32_t));
            continue;
        }
        const float *xr = u->xres + ((size_t)y * (size_t)u->W + (size_t)x) * (size_t)chr;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) {
                const int q0 = (i * r + j) * chr;
                const size_t oy = (size_t)y * (size_t)r + (size_t)i, ox = (size_t)x * (size_t)r + (size_t)j;
                float *yp = u->yout + (oy * Wo + ox) * (size_t)chr;
                if (!u->bnext) {
                    bc_amx_last(u, q0, d + q0, xr, yp);
                    continue;
                }
                const size_t o = ((oy + 1) * (Wo + 2) + ox + 1) * (size_t)u->nw_out;
                if (bc_amx_out(u, q0, d + q0, xr, yp, u->pout + o, u->mout + o)) zflags |= 1u << i;
            }
    }
    return zflags;
}

/* Scratch of the calling thread (expanded row ring, counts), kept
 * between calls and grown as needed: the chain (bitconv_chain.h) runs a unit a few rows at a
 * time, and a fresh allocation per call would cost page faults each time. */
typedef struct bc_amx_scratch {
    void *buf;
    size_t size;
} bc_amx_scratch;

static _Thread_local bc_amx_scratch bc_amx_tls;

static void *bc_amx_scratch_get(size_t size)
{
    if (bc_amx_tls.size < size) {
        free(bc_amx_tls.buf);
        bc_amx_tls.buf = aligned_alloc(64, (size + 63) / 64 * 64);
        bc_amx_tls.size = bc_amx_tls.buf ? size : 0;
    }
    return bc_amx_tls.buf;
}

static BC_TGT_AMX void unit_rows_amx(void *arg, int r0, int r1)
{
    bc_job *job = (bc_job *)arg;
    const bc_amx_ctx *c = (const bc_amx_ctx *)job->args;
    const bc_unit *u = &c->u;
    const size_t K = (size_t)u->nw_in * 64, slot = (size_t)(c->wr + 2) * K, ld = (size_t)c->nb * 16;
    const size_t dbytes = (size_t)c->wr * ld * sizeof(int32_t);
    int8_t *ring = (int8_t *)bc_amx_scratch_get(3 * slot + dbytes);
    if (!ring) {
        bc_job_fail(job);
        return;
    }
    int32_t *D = (int32_t *)(ring + 3 * slot); /* slot: a multiple of 64 */
    bc_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
    bc_amx_expand(c, r0, ring + (size_t)(r0 % 3) * slot);
    bc_amx_expand(c, r0 + 1, ring + (size_t)((r0 + 1) % 3) * slot);
    for (int y = r0; y < r1; y++) {
        bc_amx_expand(c, y + 2, ring + (size_t)((y + 2) % 3) * slot);
        bc_amx_row(c, ring, y, D);
        const unsigned zflags = bc_amx_emit_row(u, y, D, (int)ld);
        if (u->bnext && !u->counts)
            for (int i = 0; i < u->r; i++) u->zout[y * u->r + i] = (uint8_t)((zflags >> i) & 1u);
    }
    _tile_release();
}

/* The AMX context of a unit (its weights expanded once); free ctx->wv when done. */
static int bc_amx_prepare(const bc_unit *u, bc_amx_ctx *ctx)
{
    bc_amx_ctx c = {*u, NULL, (u->cout + 15) / 16, (u->W + 31) / 32 * 32};
    int8_t *wv = bc_amx_weights(u, c.nb);
    if (!wv) return -2;
    c.wv = wv;
    *ctx = c;
    return 0;
}

/* The unit on AMX tiles: weights expanded once, rows split over the pool as for the others. */
static int bc_unit_run_amx(const bc_unit *u, int nthreads)
{
    bc_amx_ctx ctx;
    if (bc_amx_prepare(u, &ctx)) return -2;
    bc_job job = {&ctx, 0};
    bc_parallel(unit_rows_amx, &job, u->H, nthreads);
    free((void *)ctx.wv);
    return job.failed ? -2 : 0;
}
#endif
