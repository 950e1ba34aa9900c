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
 * channels each (units of at most 32 channels: 32 bytes a pixel and two horizontal taps per
 * 64-byte step, 6 steps; bc_amx_step), counts of the row stored to D, then the epilogue pixel
 * by pixel (bitconv_amx_epi.h).
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
    const int8_t *wv; /* [steps][nb] blocks of 1024 bytes: [k / 4][16 outputs][k % 4] */
    int nb, wr;       /* 16-output blocks; row width in pixels rounded up to 32 */
    int pair;         /* cin <= 32: two horizontal taps per 64-byte K step (bc_amx_step) */
    int pb, steps;    /* bytes per expanded pixel (32 paired, else 64 * nw_in); K steps per pixel */
} bc_amx_ctx;

/* K step s of a pixel: its kernel row dy and the byte offset of its 64 bytes from the expanded
 * pixel (x + 0) of that row. Unpaired: tap t = s / nw_in, word w = s % nw_in, 64 channels of
 * pixel x + t % 3. Paired (cin <= 32, 32 bytes a pixel): 64 bytes from pixel x + dx hold the
 * channels of pixels x + dx and x + dx + 1, so step (dy, 0) covers taps dx = 0 and 1 and step
 * (dy, 1) tap dx = 2 (the next pixel's half meets zero weights): 6 steps instead of 9. */
static inline void bc_amx_step(const bc_amx_ctx *c, int s, int *dy, size_t *off)
{
    if (c->pair) {
        *dy = s / 2;
        *off = (size_t)(s % 2) * 64;
        return;
    }
    const int t = s / c->u.nw_in, w = s % c->u.nw_in;
    *dy = t / 3;
    *off = (size_t)(t % 3) * (size_t)c->pb + 64 * (size_t)w;
}

/* Valid channels of input word w as a byte mask. */
static inline uint64_t bc_amx_valid(const bc_unit *u, int w)
{
    const int left = u->cin - 64 * w;
    return left >= 64 ? ~0ull : (1ull << left) - 1ull;
}

/* Weight bits and valid-channel mask of K step s for output co (see bc_amx_step). */
static inline void bc_amx_step_bits(const bc_amx_ctx *c, int s, int co, uint64_t *bits, uint64_t *valid)
{
    const bc_unit *u = &c->u;
    const size_t nw = (size_t)u->nw_in, co8 = (size_t)u->co8;
    if (!c->pair) {
        const size_t t = (size_t)s / nw, w = (size_t)s % nw;
        *bits = u->wt[(t * nw + w) * co8 + (size_t)co];
        *valid = bc_amx_valid(u, (int)w);
        return;
    }
    const size_t t0 = (size_t)(s / 2) * 3 + (size_t)(s % 2) * 2; /* dx 0 (and 1), or dx 2 alone */
    const uint64_t lo = bc_amx_valid(u, 0);
    *bits = u->wt[t0 * co8 + (size_t)co] & lo;
    *valid = lo;
    if (s % 2 == 0) {
        *bits |= (u->wt[(t0 + 1) * co8 + (size_t)co] & lo) << 32;
        *valid |= lo << 32;
    }
}

/* The weights as int8 +-1 (0 past cin), each K step's 64 values scattered into its VNNI block. */
static BC_TGT_AMX int8_t *bc_amx_weights(const bc_amx_ctx *c)
{
    const size_t nb = (size_t)c->nb, bytes = (size_t)c->steps * nb * 1024;
    int8_t *wv = (int8_t *)aligned_alloc(64, bytes);
    if (!wv) return NULL;
    memset(wv, 0, bytes);
    const __m512i one = _mm512_set1_epi8(1), mone = _mm512_set1_epi8(-1);
    const __m512i idx = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    for (int s = 0; s < c->steps; s++)
        for (int co = 0; co < c->u.cout; co++) {
            uint64_t bits, valid;
            bc_amx_step_bits(c, s, co, &bits, &valid);
            const __m512i v = _mm512_maskz_mov_epi8(valid, _mm512_mask_blend_epi8(bits, mone, one));
            int8_t *blk = wv + ((size_t)s * nb + (size_t)(co / 16)) * 1024 + (size_t)(co % 16) * 4;
            _mm512_i32scatter_epi32(blk, idx, v, 4); /* bytes 4j..4j+3 to row j of the block */
        }
    return wv;
}

/* Pixels in a ring slot: the padded row and, paired, one more (the last step reads 2 pixels). */
static inline int bc_amx_slot_px(const bc_amx_ctx *c) { return c->wr + 2 + c->pair; }

/* Bytes of a ring slot, a multiple of 64 (the counts D follow the three slots). */
static inline size_t bc_amx_slot(const bc_amx_ctx *c) { return ((size_t)bc_amx_slot_px(c) * (size_t)c->pb + 63) / 64 * 64; }

/* Padded row py of the input grid (image row py - 1) as int8 [slot pixels][pb]. */
static BC_TGT_AMX void bc_amx_expand(const bc_amx_ctx *c, int py, int8_t *dst)
{
    const bc_unit *u = &c->u;
    const int nw = u->nw_in, inside = py >= 1 && py <= u->H, words = c->pair ? 1 : nw;
    const __mmask64 keep = c->pair ? 0xffffffffull : ~0ull; /* bytes stored per word */
    const __m512i one = _mm512_set1_epi8(1), mone = _mm512_set1_epi8(-1);
    for (int px = 0; px < bc_amx_slot_px(c); px++)
        for (int w = 0; w < words; w++) {
            __m512i v = _mm512_setzero_si512();
            if (inside && px >= 1 && px <= u->W) {
                const size_t o = ((size_t)py * (size_t)(u->W + 2) + (size_t)px) * (size_t)nw + (size_t)w;
                v = _mm512_maskz_mov_epi8(u->min[o], _mm512_mask_blend_epi8(u->pin[o], mone, one));
            }
            _mm512_mask_storeu_epi8((void *)(dst + (size_t)px * (size_t)c->pb + (size_t)w * 64), keep, v);
        }
}

/* Counts D [wr][16 * nb] of output row y; ring slot p % 3 holds padded row p. */
static BC_TGT_AMX void bc_amx_row(const bc_amx_ctx *c, const int8_t *ring, int y, int32_t *D)
{
    const int nb = c->nb;
    const size_t pb = (size_t)c->pb, slot = bc_amx_slot(c), ld = (size_t)nb * 64;
    for (int x0 = 0; x0 < c->u.W; x0 += 32)
        for (int n = 0; n < nb; n += 2) {
            const int two = n + 1 < nb;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int s = 0; s < c->steps; s++) {
                int dy;
                size_t off;
                bc_amx_step(c, s, &dy, &off);
                const int8_t *a = ring + (size_t)((y + dy) % 3) * slot + (size_t)x0 * pb + off;
                const int8_t *b = c->wv + ((size_t)s * (size_t)nb + (size_t)n) * 1024;
                _tile_loadd(4, a, pb);
                _tile_loadd(5, a + 16 * pb, pb);
                _tile_loadd(6, b, 64);
                _tile_dpbssd(0, 4, 6);
                _tile_dpbssd(2, 5, 6);
                if (two) {
                    _tile_loadd(7, b + 1024, 64);
                    _tile_dpbssd(1, 4, 7);
                    _tile_dpbssd(3, 5, 7);
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

#include "bitconv_amx_epi.h"

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
    const size_t slot = bc_amx_slot(c), ld = (size_t)c->nb * 16;
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
    const int pair = u->cin <= 32;
    bc_amx_ctx c = {*u, NULL, (u->cout + 15) / 16, (u->W + 31) / 32 * 32, pair, pair ? 32 : 64 * u->nw_in,
                    pair ? 6 : 9 * u->nw_in};
    int8_t *wv = bc_amx_weights(&c);
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
