/*
 * AArch64 NEON primitives: per-byte popcount (CNT) of (a ^ w), byte accumulators flushed
 * by pairwise widening adds. Epilogue and packing use the scalar code (auto-vectorised).
 */
#include <arm_neon.h>

#define BC_NEON_NV 8 /* 8 vectors x 2 outputs per block */

static inline __attribute__((always_inline)) void bc_blk_neon(const uint64_t *p0, const uint64_t *m0,
                                                               ptrdiff_t rs, int nw, const uint64_t *wt,
                                                               int co8, int32_t *S, const int nv)
{
    uint64x2_t tot[BC_NEON_NV];
    uint8x16_t acc[BC_NEON_NV];
    for (int v = 0; v < nv; v++) tot[v] = vdupq_n_u64(0);
    for (int w0 = 0; w0 < nw; w0 += 3) { /* <= 27 byte counts of <= 8 per flush */
        const int w1 = w0 + 3 < nw ? w0 + 3 : nw;
        for (int v = 0; v < nv; v++) acc[v] = vdupq_n_u8(0);
        for (int w = w0; w < w1; w++) {
            for (int t = 0; t < 9; t++) {
                const ptrdiff_t o = (t / 3) * rs + (t % 3) * nw + w;
                const uint64x2_t a = vdupq_n_u64(p0[o]);
                const uint64x2_t m = vdupq_n_u64(m0 ? m0[o] : ~(uint64_t)0);
                const uint64_t *wr = wt + (size_t)(t * nw + w) * (size_t)co8;
                for (int v = 0; v < nv; v++) {
                    uint64x2_t x = veorq_u64(a, vld1q_u64(wr + 2 * v));
                    if (m0) x = vandq_u64(x, m);
                    acc[v] = vaddq_u8(acc[v], vcntq_u8(vreinterpretq_u8_u64(x)));
                }
            }
        }
        for (int v = 0; v < nv; v++)
            tot[v] = vaddq_u64(tot[v], vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(acc[v]))));
    }
    for (int v = 0; v < nv; v++) vst1_s32(S + 2 * v, vreinterpret_s32_u32(vmovn_u64(tot[v])));
}

static __attribute__((noinline)) void bc_pix_neon(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, int nw,
                               const uint64_t *wt, int co8, int32_t *S)
{
    for (int cb = 0; cb < co8; cb += 2 * BC_NEON_NV) {
        const int left = (co8 - cb) / 2; /* co8 % 8 == 0: left is 4, 8 or more */
        if (left >= 8) bc_blk_neon(p0, m0, rs, nw, wt + cb, co8, S + cb, 8);
        else bc_blk_neon(p0, m0, rs, nw, wt + cb, co8, S + cb, 4);
    }
}

#define pix_neon(p0, rs, nw, wt, co8, S) bc_pix_neon(p0, NULL, rs, nw, wt, co8, S)
#define pixm_neon bc_pix_neon
#define pc_neon bc_pc_portable
#define weights_neon(u, owned) ((u)->wt)
#define epi_neon epi_portable
#define pack_neon pack_portable
#define epipack_neon epipack_portable
#define transpose_neon transpose_portable
