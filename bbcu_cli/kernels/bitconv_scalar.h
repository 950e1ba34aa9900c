/*
 * Portable primitives (any C11 compiler) and the scalar epilogue shared by all ISAs.
 * Float arithmetic mirrors the PyTorch reference op by op (no contraction: build with
 * -ffp-contract=off), so results are bit-identical to BinaryConv.exact_forward + RPReLU.
 */

static inline float bc_act(float v, int act)
{
    if (act == BC_ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == BC_ACT_LRELU) {
        const float neg = v * 0.1f;
        return v > 0.0f ? v : neg;
    }
    return v;
}

/* Branch-free, vectorisable activation of a contiguous buffer. */
static inline __attribute__((always_inline)) void bc_act_inplace(float *v, size_t n, int act)
{
    if (act == BC_ACT_RELU) {
        for (size_t i = 0; i < n; i++) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
    } else if (act == BC_ACT_LRELU) {
        for (size_t i = 0; i < n; i++) { /* vectorised with -fno-trapping-math */
            const float x = v[i], neg = x * 0.1f;
            v[i] = x > 0.0f ? x : neg;
        }
    }
}

/* One image row from NCHW planes (src: row y of plane 0, planes HW apart) to NHWC: drow[x*C + c]. */
static inline void transpose_portable(const float *src, size_t HW, int W, int C, float *drow)
{
    for (int x0 = 0; x0 < W; x0 += 16) { /* tiles that stay in L1 */
        const int x1 = x0 + 16 < W ? x0 + 16 : W;
        for (int c = 0; c < C; c++)
            for (int x = x0; x < x1; x++) drow[(size_t)x * (size_t)C + (size_t)c] = src[(size_t)c * HW + (size_t)x];
    }
}

/* z = cnt*alpha (+bias) + b0; prelu; + b1; + residual; post activation. */
static inline float bc_epi_one(const bc_unit *u, int q, int32_t cnt, float xr)
{
    float z = (float)cnt * u->alpha[q];
    if (u->has_bias) z = z + u->bias[q];
    z = z + u->b0[q];
    z = z > 0.0f ? z : u->pa[q] * z;
    z = z + u->b1[q];
    return bc_act(z + xr, u->post_act);
}

/* Bits k0..n-1 of one word (y, bn point at the word's first channel); returns 1 on a zero. */
static inline int bc_bits_scalar(const float *y, const float *bn, int k0, int n, uint64_t *b, uint64_t *m)
{
    int zero = 0;
    for (int k = k0; k < n; k++) {
        const float v = y[k] + bn[k];
        *b |= (uint64_t)(v > 0.0f) << k;
        *m |= (uint64_t)(v != 0.0f) << k;
        zero |= v == 0.0f;
    }
    return zero;
}

static inline int bc_pack_scalar(const float *y, const float *bn, int C, uint64_t *pw, uint64_t *mw)
{
    int zero = 0;
    for (int w = 0; w * 64 < C; w++) {
        uint64_t b = 0, m = 0;
        const int n = C - w * 64 < 64 ? C - w * 64 : 64;
        zero |= bc_bits_scalar(y + w * 64, bn + w * 64, 0, n, &b, &m);
        pw[w] = b;
        mw[w] = m;
    }
    return zero;
}

static inline uint64_t bc_pc_swar(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ULL);
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (v * 0x0101010101010101ULL) >> 56;
}

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#define bc_pc_portable bc_pc_swar /* baseline x86 has no POPCNT instruction */
#else
static inline uint64_t bc_pc_portable(uint64_t v) { return (uint64_t)__builtin_popcountll(v); }
#endif

static inline void bc_pix_portable(const uint64_t *p0, const uint64_t *m0, ptrdiff_t rs,
                                   int nw, const uint64_t *wt, int co8, int32_t *S)
{
    for (int q = 0; q < co8; q++) S[q] = 0;
    for (int t = 0; t < 9; t++) {
        for (int w = 0; w < nw; w++) {
            const ptrdiff_t o = (t / 3) * rs + (t % 3) * nw + w;
            const uint64_t a = p0[o], m = m0 ? m0[o] : ~(uint64_t)0;
            const uint64_t *wr = wt + (size_t)(t * nw + w) * (size_t)co8;
            for (int q = 0; q < co8; q++) S[q] += (int32_t)bc_pc_portable(m & (a ^ wr[q]));
        }
    }
}

#define pix_portable(p0, rs, nw, wt, co8, S) bc_pix_portable(p0, NULL, rs, nw, wt, co8, S)
#define pixm_portable bc_pix_portable
#define pc_portable bc_pc_portable
#define weights_portable(u, owned) ((u)->wt) /* kernel weight layout: the plain one */

static inline void epi_portable(const bc_unit *u, int q0, const int32_t *S, int32_t base,
                                const int32_t *E, const float *xr, float *y)
{
    for (int c = 0; c < u->chr; c++) y[c] = bc_epi_one(u, q0 + c, base - 2 * (S[c] - (E ? E[c] : 0)), xr[c]);
}

static inline int pack_portable(const float *y, const float *bn, int C, uint64_t *pw, uint64_t *mw)
{
    return bc_pack_scalar(y, bn, C, pw, mw);
}

/* epilogue, then packing of its result for the next unit (ISAs without a fused version) */
#define BC_EPIPACK_SEQ(sfx, TGT)                                                                      \
    static inline TGT int epipack_##sfx(const bc_unit *u, int q0, const int32_t *S, int32_t base,    \
                                        const int32_t *E, const float *xr, float *y, uint64_t *pw,   \
                                        uint64_t *mw)                                                \
    {                                                                                                \
        epi_##sfx(u, q0, S, base, E, xr, y);                                                         \
        return pack_##sfx(y, u->bnext, u->chr, pw, mw);                                              \
    }
BC_EPIPACK_SEQ(portable, )
