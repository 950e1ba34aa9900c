/*
 * AVX2 primitives (x86-64 with AVX2 + POPCNT): no vector popcount, so per-byte nibble LUT
 * shuffles; byte accumulators over the 9 taps, widened with VPSADBW. Weights are [tap][word][co8]
 * in the plan, split per call into low/high nibbles; one vector covers 4 outputs and each
 * activation word is broadcast once per block of up to 32 outputs. Units with C <= 32 use a
 * 32-bit variant (8 outputs a vector, at the end of this file).
 */
#define BC_TGT_AVX2 __attribute__((target("avx2,popcnt")))

#define BC_AVX2_NV 8 /* 8 vectors x 4 outputs per block (co8 % 8 == 0: blocks of 8, 6, 4 or 2) */

/* AVX2 has no vector popcount: per-byte LUT shuffles on nibbles. The weights are stored split
 * into low and high nibbles ([tap][word][lo: co8 | hi: co8]), so each nibble of a ^ w costs one
 * XOR and one shuffle: 6 ops per 4 outputs instead of 8. Built per call from the plain layout. */
static uint64_t *bc_split_weights_avx2(const bc_unit *u)
{
    const size_t rows = (size_t)9 * (size_t)u->nw_in, co8 = (size_t)u->co8;
    uint64_t *out = (uint64_t *)malloc(2 * rows * co8 * sizeof(uint64_t));
    if (!out) return NULL;
    for (size_t i = 0; i < rows; i++)
        for (size_t q = 0; q < co8; q++) {
            const uint64_t w = u->wt[i * co8 + q];
            out[2 * i * co8 + q] = w & 0x0f0f0f0f0f0f0f0fULL;
            out[2 * i * co8 + co8 + q] = (w >> 4) & 0x0f0f0f0f0f0f0f0fULL;
        }
    return out;
}

#define BC_LUT_AVX2                                                                                 \
    _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, \
                     3, 2, 3, 3, 4)

/* acc[v] += byte popcounts of (a ^ w) [& m] over the 9 taps of input word w (<= 72 per byte). */
BC_INL BC_TGT_AVX2 void bc_taps_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, const int nw, int w,
                                     const uint64_t *wt, size_t co8, __m256i *acc, const int nv)
{
    const __m256i lut = BC_LUT_AVX2, m4 = _mm256_set1_epi8(0x0f);
    const size_t ts = 2 * (size_t)nw * co8;
    const uint64_t *wr = wt + 2 * (size_t)w * co8;
    /* taps stay a rolled loop: unrolled, GCC re-associates the byte sums into trees and
     * spills; rolled, each acc[v] is one loop-carried register */
#pragma GCC unroll 1
    for (int t = 0; t < 9; t++, wr += ts) {
        const ptrdiff_t o = (t / 3) * rs + (t % 3) * nw + w;
        const __m256i a = _mm256_set1_epi64x((long long)p0[o]);
        const __m256i alo = _mm256_and_si256(a, m4), ahi = _mm256_and_si256(_mm256_srli_epi16(a, 4), m4);
        __m256i mlo = alo, mhi = ahi;
        if (m0) {
            const __m256i m = _mm256_set1_epi64x((long long)m0[o]);
            mlo = _mm256_and_si256(m, m4);
            mhi = _mm256_and_si256(_mm256_srli_epi16(m, 4), m4);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            __m256i lo = _mm256_xor_si256(alo, _mm256_loadu_si256((const __m256i *)(wr + 4 * v)));
            __m256i hi = _mm256_xor_si256(ahi, _mm256_loadu_si256((const __m256i *)(wr + co8 + 4 * v)));
            if (m0) {
                lo = _mm256_and_si256(lo, mlo);
                hi = _mm256_and_si256(hi, mhi);
            }
            acc[v] = _mm256_add_epi8(acc[v], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi)));
        }
    }
}

BC_INL BC_TGT_AVX2 void bc_store_avx2(__m256i tot, int32_t *S)
{
    const __m256i lo32 = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    _mm_storeu_si128((__m128i *)S, _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(tot, lo32)));
}

/* Any number of input words: byte sums flushed to 64-bit lanes every 3 words (<= 216). */
BC_INL BC_TGT_AVX2 void bc_blk_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, const int nw,
                                    const uint64_t *wt, size_t co8, int32_t *S, const int nv)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i tot[BC_AVX2_NV], acc[BC_AVX2_NV];
    for (int v = 0; v < nv; v++) tot[v] = zero;
    for (int w0 = 0; w0 < nw; w0 += 3) {
        const int w1 = w0 + 3 < nw ? w0 + 3 : nw;
        for (int v = 0; v < nv; v++) acc[v] = zero;
        for (int w = w0; w < w1; w++) bc_taps_avx2(p0, m0, rs, nw, w, wt, co8, acc, nv);
        for (int v = 0; v < nv; v++) tot[v] = _mm256_add_epi64(tot[v], _mm256_sad_epu8(acc[v], zero));
    }
    for (int v = 0; v < nv; v++) bc_store_avx2(tot[v], S + 4 * v);
}

/* One input word per pixel (C <= 64): 9 taps of byte counts, one horizontal sum. */
BC_INL BC_TGT_AVX2 void bc_blk1_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs,
                                     const uint64_t *wt, size_t co8, int32_t *S, const int nv)
{
    __m256i acc[BC_AVX2_NV];
    for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_si256();
    bc_taps_avx2(p0, m0, rs, 1, 0, wt, co8, acc, nv);
    for (int v = 0; v < nv; v++) bc_store_avx2(_mm256_sad_epu8(acc[v], _mm256_setzero_si256()), S + 4 * v);
}

/* Each (block width, masked, one-word) case is its own function: the register allocator
 * then keeps every accumulator in a register (one big function spilled them). */
#define BC_AVX2_KERNELS(nv)                                                                                 \
    static __attribute__((noinline)) BC_TGT_AVX2 void bc_k_avx2_##nv(const uint64_t *p0, const uint64_t *m0, \
                                                                     ptrdiff_t rs, int nw, const uint64_t *wt, \
                                                                     size_t co8, int32_t *S)                  \
    {                                                                                                        \
        if (nw != 1) bc_blk_avx2(p0, m0, rs, nw, wt, co8, S, nv);                                            \
        else bc_blk1_avx2(p0, NULL, rs, wt, co8, S, nv);                                                     \
    }                                                                                                        \
    static __attribute__((noinline)) BC_TGT_AVX2 void bc_km_avx2_##nv(const uint64_t *p0, const uint64_t *m0, \
                                                                      ptrdiff_t rs, int nw, const uint64_t *wt, \
                                                                      size_t co8, int32_t *S)                  \
    {                                                                                                        \
        if (nw != 1) bc_blk_avx2(p0, m0, rs, nw, wt, co8, S, nv);                                            \
        else bc_blk1_avx2(p0, m0, rs, wt, co8, S, nv);                                                       \
    }
BC_AVX2_KERNELS(2)
BC_AVX2_KERNELS(4)
BC_AVX2_KERNELS(6)
BC_AVX2_KERNELS(8)

BC_INL BC_TGT_AVX2 void bc_pix_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, int nw,
                                    const uint64_t *wt, int co8, int32_t *S)
{
    const size_t n = (size_t)co8;
    for (int cb = 0; cb < co8; cb += 32) {
        const int left = (co8 - cb) / 4;
        if (left >= 8) (m0 ? bc_km_avx2_8 : bc_k_avx2_8)(p0, m0, rs, nw, wt + cb, n, S + cb);
        else if (left == 6) (m0 ? bc_km_avx2_6 : bc_k_avx2_6)(p0, m0, rs, nw, wt + cb, n, S + cb);
        else if (left == 4) (m0 ? bc_km_avx2_4 : bc_k_avx2_4)(p0, m0, rs, nw, wt + cb, n, S + cb);
        else (m0 ? bc_km_avx2_2 : bc_k_avx2_2)(p0, m0, rs, nw, wt + cb, n, S + cb);
    }
}

#define pix_avx2(p0, rs, nw, wt, co8, S) bc_pix_avx2(p0, NULL, rs, nw, wt, co8, S)
#define pixm_avx2 bc_pix_avx2
#define weights_avx2(u, owned) (*(owned) = bc_split_weights_avx2(u))

BC_INL BC_TGT_AVX2 uint64_t pc_avx2(uint64_t v) { return (uint64_t)__builtin_popcountll(v); }

BC_INL BC_TGT_AVX2 void epi_avx2(const bc_unit *u, int q0, const int32_t *S, int32_t base,
                                 const int32_t *E, const float *xr, float *y)
{
    const int C = u->chr;
    const __m256i vb = _mm256_set1_epi32(base);
    const __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(0.1f);
    int c = 0;
    for (; c + 8 <= C; c += 8) {
        const int q = q0 + c;
        __m256i d = _mm256_loadu_si256((const __m256i *)(S + c));
        if (E) d = _mm256_sub_epi32(d, _mm256_loadu_si256((const __m256i *)(E + c)));
        __m256 z = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(vb, _mm256_slli_epi32(d, 1))),
                                 _mm256_loadu_ps(u->alpha + q));
        if (u->has_bias) z = _mm256_add_ps(z, _mm256_loadu_ps(u->bias + q));
        z = _mm256_add_ps(z, _mm256_loadu_ps(u->b0 + q));
        const __m256 neg = _mm256_mul_ps(_mm256_loadu_ps(u->pa + q), z);
        z = _mm256_blendv_ps(neg, z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));
        z = _mm256_add_ps(z, _mm256_loadu_ps(u->b1 + q));
        z = _mm256_add_ps(z, _mm256_loadu_ps(xr + c));
        if (u->post_act == BC_ACT_RELU) z = _mm256_and_ps(z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));
        else if (u->post_act == BC_ACT_LRELU)
            z = _mm256_blendv_ps(_mm256_mul_ps(z, slope), z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));
        _mm256_storeu_ps(y + c, z);
    }
    for (; c < C; c++) y[c] = bc_epi_one(u, q0 + c, base - 2 * (S[c] - (E ? E[c] : 0)), xr[c]);
}

BC_INL BC_TGT_AVX2 int pack_avx2(const float *y, const float *bn, int C, uint64_t *pw, uint64_t *mw)
{
    const __m256 zero = _mm256_setzero_ps();
    int zero_seen = 0;
    for (int w = 0; w * 64 < C; w++) {
        const int n = C - w * 64 < 64 ? C - w * 64 : 64;
        const float *yw = y + w * 64, *bw = bn + w * 64;
        uint64_t b = 0, m = 0;
        int k = 0;
        for (; k + 8 <= n; k += 8) {
            const __m256 v = _mm256_add_ps(_mm256_loadu_ps(yw + k), _mm256_loadu_ps(bw + k));
            const unsigned gt = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            const unsigned ne = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
            b |= (uint64_t)gt << k;
            m |= (uint64_t)ne << k;
            zero_seen |= ne != 0xffu;
        }
        zero_seen |= bc_bits_scalar(yw, bw, k, n, &b, &m);
        pw[w] = b;
        mw[w] = m;
    }
    return zero_seen;
}

BC_EPIPACK_SEQ(avx2, BC_TGT_AVX2)

/* One NCHW row to NHWC in 8 x 8 blocks (8 channels of 8 pixels transposed in registers). */
BC_INL BC_TGT_AVX2 void transpose_avx2(const float *src, size_t HW, int W, int C, float *drow)
{
    if (C % 8) {
        transpose_portable(src, HW, W, C, drow);
        return;
    }
    int x = 0;
    for (; x + 8 <= W; x += 8) {
        for (int c = 0; c < C; c += 8) {
            __m256 r[8], t[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)(c + i) * HW + (size_t)x);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
                r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
                r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
            }
            for (int i = 0; i < 4; i++) { /* r[i]: pixels x+{0,1,4,5} / x+{2,3,6,7} halves */
                t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
                t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
            }
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(drow + (size_t)(x + i) * (size_t)C + (size_t)c, t[i]);
        }
    }
    for (; x < W; x++)
        for (int c = 0; c < C; c++) drow[(size_t)x * (size_t)C + (size_t)c] = src[(size_t)c * HW + (size_t)x];
}

/*
 * Narrow inputs (C <= 32, one word per pixel): only the low 32 bits of each activation word
 * carry data (tail bits are 0 in activations and weights), so weights are split into 32-bit
 * nibble halves ([tap][lo: co8 | hi: co8] uint32) and one vector covers 8 outputs instead of 4.
 * Byte counts (<= 72) are summed per 32-bit lane with VPMADDUBSW + VPMADDWD. Same counts as the
 * 64-bit path; used through its own row driver (unit_rows_avx2n, picked in bc_unit_run).
 */
static uint64_t *bc_split_weights32_avx2(const bc_unit *u)
{
    const size_t co8 = (size_t)u->co8;
    uint32_t *out = (uint32_t *)malloc(2 * 9 * co8 * sizeof(uint32_t));
    if (!out) return NULL;
    for (size_t i = 0; i < 9; i++)
        for (size_t q = 0; q < co8; q++) {
            const uint32_t w = (uint32_t)u->wt[i * co8 + q];
            out[2 * i * co8 + q] = w & 0x0f0f0f0fu;
            out[2 * i * co8 + co8 + q] = (w >> 4) & 0x0f0f0f0fu;
        }
    return (uint64_t *)out; /* freed by the row driver like the 64-bit split */
}

/* acc[v] += byte popcounts of the low 32 bits of (a ^ w) [& m] over the 9 taps (<= 72 per byte). */
BC_INL BC_TGT_AVX2 void bc_taps32_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs,
                                       const uint32_t *wt, size_t co8, __m256i *acc, const int nv)
{
    const __m256i lut = BC_LUT_AVX2, m4 = _mm256_set1_epi8(0x0f);
    const uint32_t *wr = wt;
#pragma GCC unroll 1
    for (int t = 0; t < 9; t++, wr += 2 * co8) {
        const ptrdiff_t o = (t / 3) * rs + (t % 3);
        const __m256i a = _mm256_set1_epi32((int)(uint32_t)p0[o]);
        const __m256i alo = _mm256_and_si256(a, m4), ahi = _mm256_and_si256(_mm256_srli_epi16(a, 4), m4);
        __m256i mlo = alo, mhi = ahi;
        if (m0) {
            const __m256i m = _mm256_set1_epi32((int)(uint32_t)m0[o]);
            mlo = _mm256_and_si256(m, m4);
            mhi = _mm256_and_si256(_mm256_srli_epi16(m, 4), m4);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            __m256i lo = _mm256_xor_si256(alo, _mm256_loadu_si256((const __m256i *)(wr + 8 * v)));
            __m256i hi = _mm256_xor_si256(ahi, _mm256_loadu_si256((const __m256i *)(wr + co8 + 8 * v)));
            if (m0) {
                lo = _mm256_and_si256(lo, mlo);
                hi = _mm256_and_si256(hi, mhi);
            }
            acc[v] = _mm256_add_epi8(acc[v], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi)));
        }
    }
}

/* One block of nv x 8 outputs: byte sums -> 16-bit pairs -> one int32 count per lane. */
BC_INL BC_TGT_AVX2 void bc_blk32_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs,
                                      const uint32_t *wt, size_t co8, int32_t *S, const int nv)
{
    const __m256i one8 = _mm256_set1_epi8(1), one16 = _mm256_set1_epi16(1);
    __m256i acc[BC_AVX2_NV];
    for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_si256();
    bc_taps32_avx2(p0, m0, rs, wt, co8, acc, nv);
    for (int v = 0; v < nv; v++)
        _mm256_storeu_si256((__m256i *)(S + 8 * v), _mm256_madd_epi16(_mm256_maddubs_epi16(acc[v], one8), one16));
}

typedef void (*bc_k32_fn)(const uint64_t *, const uint64_t *, ptrdiff_t, const uint32_t *, size_t, int32_t *);

/* One function per (block width, masked) case, as for the 64-bit kernels. */
#define BC_AVX2_KERNELS32(nv)                                                                               \
    static __attribute__((noinline)) BC_TGT_AVX2 void bc_k32_avx2_##nv(                                    \
        const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, const uint32_t *wt, size_t co8, int32_t *S)  \
    {                                                                                                       \
        (void)m0;                                                                                           \
        bc_blk32_avx2(p0, NULL, rs, wt, co8, S, nv);                                                        \
    }                                                                                                       \
    static __attribute__((noinline)) BC_TGT_AVX2 void bc_km32_avx2_##nv(                                   \
        const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs, const uint32_t *wt, size_t co8, int32_t *S)  \
    {                                                                                                       \
        bc_blk32_avx2(p0, m0, rs, wt, co8, S, nv);                                                          \
    }
BC_AVX2_KERNELS32(1)
BC_AVX2_KERNELS32(2)
BC_AVX2_KERNELS32(3)
BC_AVX2_KERNELS32(4)
BC_AVX2_KERNELS32(5)
BC_AVX2_KERNELS32(6)
BC_AVX2_KERNELS32(7)
BC_AVX2_KERNELS32(8)

/* [masked][vectors in the block] (co8 % 8 == 0: every block has 1..8 whole vectors) */
static const bc_k32_fn bc_k32_avx2[2][BC_AVX2_NV + 1] = {
    {NULL, bc_k32_avx2_1, bc_k32_avx2_2, bc_k32_avx2_3, bc_k32_avx2_4, bc_k32_avx2_5, bc_k32_avx2_6, bc_k32_avx2_7,
     bc_k32_avx2_8},
    {NULL, bc_km32_avx2_1, bc_km32_avx2_2, bc_km32_avx2_3, bc_km32_avx2_4, bc_km32_avx2_5, bc_km32_avx2_6,
     bc_km32_avx2_7, bc_km32_avx2_8},
};

/* Counts of one pixel in blocks of up to 64 outputs; wt is the 32-bit split layout. */
BC_INL BC_TGT_AVX2 void bc_pix32_avx2(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs,
                                      const uint64_t *wt, int co8, int32_t *S)
{
    const uint32_t *w32 = (const uint32_t *)wt;
    const size_t n = (size_t)co8;
    for (int cb = 0; cb < co8; cb += 8 * BC_AVX2_NV) {
        const int left = (co8 - cb) / 8;
        bc_k32_avx2[m0 != NULL][left < BC_AVX2_NV ? left : BC_AVX2_NV](p0, m0, rs, w32 + cb, n, S + cb);
    }
}

/* ISA primitives of the narrow row driver (SFX = name##_avx2n): the rest is shared with avx2. */
#define pix_avx2n(p0, rs, nw, wt, co8, S) bc_pix32_avx2(p0, NULL, rs, wt, co8, S)
#define pixm_avx2n(p0, m0, rs, nw, wt, co8, S) bc_pix32_avx2(p0, m0, rs, wt, co8, S)
#define weights_avx2n(u, owned) (*(owned) = bc_split_weights32_avx2(u))
#define pc_avx2n pc_avx2
#define epi_avx2n epi_avx2
#define pack_avx2n pack_avx2
#define epipack_avx2n epipack_avx2
#define transpose_avx2n transpose_avx2
