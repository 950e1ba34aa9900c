/*
 * AVX-512 primitives (AVX512F + AVX512BW + AVX512VPOPCNTDQ): VPOPCNTQ on 8 outputs per vector,
 * 64 outputs per block with one broadcast activation word; masked taps (exact zeros) cost the
 * same thanks to VPTERNLOGQ; the epilogue and packing use mask registers for channel tails.
 * Developer mode: with -DBC_EMULATE_AVX512 this code is compiled against SIMDe
 * (https://github.com/simd-everywhere/simde) so it can be checked bit for bit on a CPU without
 * AVX-512. The package build never defines it.
 */
#ifdef BC_EMULATE_AVX512 /* developer check of the AVX-512 code on other CPUs (SIMDe) */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define BC_TGT_AVX512 __attribute__((target("avx2,popcnt")))
/* element-wise stand-ins for the few intrinsics SIMDe 0.7 lacks */
static inline simde__m512 bc_emu_cvtepi32_ps(simde__m512i a)
{
    int32_t t[16];
    float f[16];
    simde_mm512_storeu_si512(t, a);
    for (int i = 0; i < 16; i++) f[i] = (float)t[i];
    return simde_mm512_loadu_ps(f);
}
static inline simde__m512 bc_emu_maskz_loadu_ps(__mmask16 k, const void *p)
{
    float f[16];
    for (int i = 0; i < 16; i++) f[i] = (k >> i) & 1 ? ((const float *)p)[i] : 0.0f;
    return simde_mm512_loadu_ps(f);
}
static inline simde__m512i bc_emu_maskz_loadu_epi32(__mmask16 k, const void *p)
{
    int32_t t[16];
    for (int i = 0; i < 16; i++) t[i] = (k >> i) & 1 ? ((const int32_t *)p)[i] : 0;
    return simde_mm512_loadu_si512(t);
}
static inline void bc_emu_mask_storeu_ps(void *p, __mmask16 k, simde__m512 a)
{
    float f[16];
    simde_mm512_storeu_ps(f, a);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) ((float *)p)[i] = f[i];
}
#define _mm512_cvtepi32_ps bc_emu_cvtepi32_ps
#define _mm512_maskz_loadu_ps bc_emu_maskz_loadu_ps
#define _mm512_maskz_loadu_epi32 bc_emu_maskz_loadu_epi32
#define _mm512_mask_storeu_ps bc_emu_mask_storeu_ps
#define _mm512_mask_cmp_ps_mask(k, a, b, p) ((__mmask16)((k) & _mm512_cmp_ps_mask(a, b, p)))
#define _mm512_kunpackw(a, b) ((__mmask32)(((uint32_t)(uint16_t)(a) << 16) | (uint16_t)(b)))
#define _mm512_kunpackd(a, b) ((__mmask64)(((uint64_t)(uint32_t)(a) << 32) | (uint32_t)(b)))
#define _cvtmask64_u64(k) ((uint64_t)(k))
#else
#define BC_TGT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vpopcntdq,avx2,popcnt")))
#endif


#define weights_avx512(u, owned) ((u)->wt)

BC_INL BC_TGT_AVX512 void bc_blk_avx512(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, const int nw,
                                        const uint64_t *wt, size_t co8, int32_t *S, const int nv)
{
    const size_t ts = (size_t)nw * co8;
    __m512i acc[8];
    for (int v = 0; v < nv; v++) acc[v] = _mm512_setzero_si512();
    for (int w = 0; w < nw; w++) {
        const uint64_t *wr = wt + (size_t)w * co8;
#pragma GCC unroll 1
        for (int t = 0; t < 9; t++, wr += ts) { /* rolled: see bc_blk_avx2 */
            const ptrdiff_t o = (t / 3) * rs + (t % 3) * nw + w;
            const __m512i a = _mm512_set1_epi64((long long)p0[o]);
            const __m512i m = m0 ? _mm512_set1_epi64((long long)m0[o]) : a;
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                const __m512i wv = _mm512_loadu_si512((const void *)(wr + 8 * v));
                /* masked: m & (a ^ w) in one ternary-logic op (0xF0 & (0xCC ^ 0xAA) = 0x60) */
                const __m512i x = m0 ? _mm512_ternarylogic_epi64(m, a, wv, 0x60) : _mm512_xor_si512(a, wv);
                acc[v] = _mm512_add_epi64(acc[v], _mm512_popcnt_epi64(x));
            }
        }
    }
    /* 16 counts per store: the epilogue's 16-lane loads then forward from one store each */
    int v = 0;
    for (; v + 2 <= nv; v += 2)
        _mm512_storeu_si512((void *)(S + 8 * v), _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(acc[v])),
                                                                    _mm512_cvtepi64_epi32(acc[v + 1]), 1));
    if (v < nv) _mm256_storeu_si256((__m256i *)(S + 8 * v), _mm512_cvtepi64_epi32(acc[v]));
}

BC_INL BC_TGT_AVX512 void bc_blkw_avx512(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, int nw,
                                         const uint64_t *wt, size_t co8, int32_t *S, const int nv)
{
    if (nw == 1) bc_blk_avx512(p0, m0, rs, 1, wt, co8, S, nv);
    else bc_blk_avx512(p0, m0, rs, nw, wt, co8, S, nv);
}

static __attribute__((noinline)) BC_TGT_AVX512 void bc_pix_avx512(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, int nw,
                                        const uint64_t *wt, int co8, int32_t *S)
{
    const size_t n = (size_t)co8;
    for (int cb = 0; cb < co8; cb += 64) {
        switch ((co8 - cb) / 8) {
        case 1: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 1); break;
        case 2: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 2); break;
        case 3: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 3); break;
        case 4: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 4); break;
        case 5: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 5); break;
        case 6: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 6); break;
        case 7: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 7); break;
        default: bc_blkw_avx512(p0, m0, rs, nw, wt + cb, n, S + cb, 8); break;
        }
    }
}

#define pix_avx512(p0, rs, nw, wt, co8, S) bc_pix_avx512(p0, NULL, rs, nw, wt, co8, S)
#define pixm_avx512 bc_pix_avx512

BC_INL BC_TGT_AVX512 uint64_t pc_avx512(uint64_t v) { return (uint64_t)__builtin_popcountll(v); }

static inline __mmask16 bc_k16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* z = RPReLU(alpha * count (+bias)) + x for the 16 outputs from q (mask k), count as floats
 * (the AMX epilogue calls it with the tiles' counts: the same operations, so the same bits). */
BC_INL BC_TGT_AVX512 __m512 bc_rprelu16_avx512(const bc_unit *u, int q, __m512 count, const float *xr, __mmask16 k)
{
    __m512 z = _mm512_mul_ps(count, _mm512_maskz_loadu_ps(k, u->alpha + q));
    if (u->has_bias) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, u->bias + q));
    z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, u->b0 + q));
    const __m512 neg = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, u->pa + q), z);
    z = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ), neg, z);
    z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, u->b1 + q));
    return _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, xr));
}

/* z = RPReLU(alpha * count (+bias)) + x for 16 channels at c (mask k); E == NULL: no border. */
BC_INL BC_TGT_AVX512 __m512 bc_z16_avx512(const bc_unit *u, int q, const int32_t *S, __m512i vb,
                                           const int32_t *E, const float *xr, __mmask16 k)
{
    __m512i d = _mm512_maskz_loadu_epi32(k, S);
    if (E) d = _mm512_sub_epi32(d, _mm512_maskz_loadu_epi32(k, E));
    return bc_rprelu16_avx512(u, q, _mm512_cvtepi32_ps(_mm512_sub_epi32(vb, _mm512_slli_epi32(d, 1))), xr, k);
}

BC_INL BC_TGT_AVX512 void epi_avx512(const bc_unit *u, int q0, const int32_t *S, int32_t base,
                                     const int32_t *E, const float *xr, float *y)
{
    const __m512i vb = _mm512_set1_epi32(base);
    const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(0.1f);
    for (int c = 0; c < u->chr; c += 16) {
        const __mmask16 k = bc_k16(u->chr - c);
        __m512 z = bc_z16_avx512(u, q0 + c, S + c, vb, E ? E + c : NULL, xr + c, k);
        if (u->post_act == BC_ACT_RELU) z = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, zero, _CMP_GT_OQ), z);
        else if (u->post_act == BC_ACT_LRELU)
            z = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, zero, _CMP_GT_OQ), _mm512_mul_ps(z, slope), z);
        _mm512_mask_storeu_ps(y + c, k, z);
    }
}

/* One 64-channel word of epipack_avx512 (all 64 channels present): masks are joined in mask
 * registers and moved to general registers once per word. */
BC_INL BC_TGT_AVX512 int bc_epipack64_avx512(const bc_unit *u, int q, const int32_t *S, __m512i vb,
                                             const int32_t *E, const float *xr, float *y,
                                             const float *bn, uint64_t *pw, uint64_t *mw)
{
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 gt[4], ne[4];
    for (int h = 0; h < 4; h++) {
        const int c = 16 * h;
        const __m512 z = bc_z16_avx512(u, q + c, S + c, vb, E ? E + c : NULL, xr + c, 0xffff);
        _mm512_storeu_ps(y + c, z);
        const __m512 v = _mm512_add_ps(z, _mm512_loadu_ps(bn + c));
        gt[h] = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        ne[h] = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
    }
    *pw = _cvtmask64_u64(_mm512_kunpackd(_mm512_kunpackw(gt[3], gt[2]), _mm512_kunpackw(gt[1], gt[0])));
    *mw = _cvtmask64_u64(_mm512_kunpackd(_mm512_kunpackw(ne[3], ne[2]), _mm512_kunpackw(ne[1], ne[0])));
    return *mw != ~(uint64_t)0;
}

/* Store the 16 values z (mask k) at y and add the sign / non-zero bits of z + bn for channels
 * c .. c + 15 to the word being built in *b / *m; returns 1 if one of them was exactly 0. */
BC_INL BC_TGT_AVX512 int bc_store_pack16_avx512(__m512 z, __mmask16 k, const float *bn, float *y, int c, uint64_t *b,
                                                uint64_t *m)
{
    _mm512_mask_storeu_ps(y, k, z);
    const __m512 v = _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, bn));
    const __mmask16 ne = _mm512_mask_cmp_ps_mask(k, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    *b |= (uint64_t)_mm512_mask_cmp_ps_mask(k, v, _mm512_setzero_ps(), _CMP_GT_OQ) << (c & 63);
    *m |= (uint64_t)ne << (c & 63);
    return ne != k;
}

/* epi_avx512 (no post activation) fused with pack_avx512 of its result: y is not re-read. */
BC_INL BC_TGT_AVX512 int epipack_avx512(const bc_unit *u, int q0, const int32_t *S, int32_t base,
                                        const int32_t *E, const float *xr, float *y, uint64_t *pw,
                                        uint64_t *mw)
{
    const __m512i vb = _mm512_set1_epi32(base);
    const int C = u->chr;
    int zero_seen = 0, c = 0;
    for (; c + 64 <= C; c += 64)
        zero_seen |= bc_epipack64_avx512(u, q0 + c, S + c, vb, E ? E + c : NULL, xr + c, y + c,
                                         u->bnext + c, pw + c / 64, mw + c / 64);
    uint64_t b = 0, m = 0;
    for (; c < C; c += 16) { /* a last, partial word */
        const __mmask16 k = bc_k16(C - c);
        const __m512 z = bc_z16_avx512(u, q0 + c, S + c, vb, E ? E + c : NULL, xr + c, k);
        zero_seen |= bc_store_pack16_avx512(z, k, u->bnext + c, y + c, c, &b, &m);
        if (c + 16 >= C) {
            pw[c >> 6] = b;
            mw[c >> 6] = m;
        }
    }
    return zero_seen;
}

BC_INL BC_TGT_AVX512 int pack_avx512(const float *y, const float *bn, int C, uint64_t *pw, uint64_t *mw)
{
    const __m512 zero = _mm512_setzero_ps();
    int zero_seen = 0;
    for (int w = 0; w * 64 < C; w++) {
        uint64_t b = 0, m = 0;
        for (int h = 0; h < 4 && w * 64 + h * 16 < C; h++) {
            const int c = w * 64 + h * 16;
            const __mmask16 k = bc_k16(C - c);
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + c), _mm512_maskz_loadu_ps(k, bn + c));
            const __mmask16 gt = _mm512_mask_cmp_ps_mask(k, v, zero, _CMP_GT_OQ);
            const __mmask16 ne = _mm512_mask_cmp_ps_mask(k, v, zero, _CMP_NEQ_UQ);
            b |= (uint64_t)gt << (16 * h);
            m |= (uint64_t)ne << (16 * h);
            zero_seen |= ne != k;
        }
        pw[w] = b;
        mw[w] = m;
    }
    return zero_seen;
}

#define transpose_avx512 transpose_avx2 /* the 8x8 AVX2 transpose; entry is a small share of the work */
