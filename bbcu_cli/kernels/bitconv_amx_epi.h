/*
 * The AMX path's epilogue (included by bitconv_amx.h inside its BC_HAVE_AMX guard): the
 * AVX-512 epilogue's float operations (bc_rprelu16_avx512, bc_store_pack16_avx512) on the
 * counts D the tiles wrote, so every output bit, binary decision and packed bit is the
 * VPOPCNTQ path's (tests/engine/test_amx.py).
 */

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
