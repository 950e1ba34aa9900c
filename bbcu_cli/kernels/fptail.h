/*
 * Full-precision tail of a network, fused with its epilogue (see bc_finish in bitconv.h).
 *
 * Per grid row gy (the tail conv's resolution) a job computes z = conv3x3(feat) + bias for
 * the window's columns (or reads z from zin), then emits the r output rows of that grid row:
 *   SR     : v = (z[shuffled] + bilinear_sb(x * k)) / k, computed as z / k + bilinear_sb(x)
 *   DnCNN  : v = x - z[shuffled] / k, computed as x - z * (1 / k)
 * and stores v (float32 as is; uint8/uint16 clipped to [0, 1], scaled, rounded half to even)
 * straight into the caller's output buffer. Everything here runs after the last binary unit,
 * so its rounding may differ from PyTorch's in the last bits; op order follows PyTorch.
 *
 * The conv with few outputs (3 at high resolution) is vectorised over input channels: a block
 * of 4 pixels x 3 outputs keeps 12 accumulators, each a dot product over 9 taps x cin. With 8
 * or more outputs (BBCU-P tails: 12, 27, 48) the AVX2 path vectorises over output channels
 * instead (bc_ft_row8_avx2: broadcast one input value, FMA into 8 outputs, no horizontal sum),
 * and with AVX-512 into 16 outputs (bc_ft_row16_512; 17.7 -> 10.7 ms for bbcu-p-x4's tail at
 * 320x180, 2 threads, benchmarks/stages.py).
 */

/* -------------------------------------------------------------- conv of one grid row */

/* What bc_finish_run hands its row jobs: the arguments and, on the AVX2 path with 8 or more
 * outputs, the weights repacked for bc_ft_row8_avx2 (see there). */
typedef struct bc_ft_ctx {
    bc_finish f;     /* first member: the row functions receive &ctx->f */
    const float *wp; /* [9][cin][cz8], or NULL (cz < 8, or neither the AVX2 nor the AVX-512 path) */
    const float *b8; /* [cz8] */
    int cz8;         /* cz rounded up to the vector: 8 (AVX2) or 16 (AVX-512) */
} bc_ft_ctx;

/* Eight partial sums, so that compilers vectorise it without reassociating (SSE2, NEON). */
static inline float bc_ft_dot_scalar(const bc_finish *f, int gy, int gx, int co)
{
    const float *w = f->wt + (size_t)co * 9 * (size_t)f->cin;
    float part[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = gy + dy;
        if (yy < 0 || yy >= f->Hc) continue;
        for (int dx = -1; dx <= 1; dx++) {
            const int xx = gx + dx;
            if (xx < 0 || xx >= f->Wc) continue;
            const float *p = f->feat + ((size_t)yy * (size_t)f->Wc + (size_t)xx) * (size_t)f->cin;
            const float *wt = w + (size_t)((dy + 1) * 3 + dx + 1) * (size_t)f->cin;
            int c = 0;
            for (; c + 8 <= f->cin; c += 8)
                for (int l = 0; l < 8; l++) part[l] += p[c + l] * wt[c + l];
            for (; c < f->cin; c++) part[c & 7] += p[c] * wt[c];
        }
    }
    const float acc = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    return acc + (f->bias ? f->bias[co] : 0.0f);
}

static void bc_ft_row_portable(const bc_finish *f, int gy, int gx0, int gx1, float *z)
{
    for (int gx = gx0; gx < gx1; gx++)
        for (int co = 0; co < f->cz; co++) z[(size_t)(gx - gx0) * (size_t)f->cz + (size_t)co] = bc_ft_dot_scalar(f, gy, gx, co);
}

#ifdef BC_X86
#define BC_TGT_FMA __attribute__((target("avx2,fma")))

BC_INL BC_TGT_FMA float bc_hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* 4 interior pixels (gx .. gx+3, all with 3 valid columns) x nco (<= 3) outputs from co.
 * Always inlined with a constant nco, so the 12 accumulators stay in registers. */
BC_INL BC_TGT_FMA void bc_ft_blk_avx2(const bc_finish *f, int gy, int gx, int co, const int nco, float *z)
{
    __m256 acc[4][3];
    for (int p = 0; p < 4; p++)
        for (int o = 0; o < 3; o++) acc[p][o] = _mm256_setzero_ps();
    const size_t cin = (size_t)f->cin, rowlen = (size_t)f->Wc * cin;
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = gy + dy;
        if (yy < 0 || yy >= f->Hc) continue;
        for (int dx = -1; dx <= 1; dx++) {
            const float *in = f->feat + (size_t)yy * rowlen + (size_t)(gx + dx) * cin;
            const size_t t = (size_t)((dy + 1) * 3 + dx + 1) * cin;
            for (size_t c = 0; c < cin; c += 8) {
                const __m256 a0 = _mm256_loadu_ps(in + c), a1 = _mm256_loadu_ps(in + cin + c);
                const __m256 a2 = _mm256_loadu_ps(in + 2 * cin + c), a3 = _mm256_loadu_ps(in + 3 * cin + c);
                for (int o = 0; o < nco; o++) {
                    const __m256 w = _mm256_loadu_ps(f->wt + (size_t)(co + o) * 9 * cin + t + c);
                    acc[0][o] = _mm256_fmadd_ps(a0, w, acc[0][o]);
                    acc[1][o] = _mm256_fmadd_ps(a1, w, acc[1][o]);
                    acc[2][o] = _mm256_fmadd_ps(a2, w, acc[2][o]);
                    acc[3][o] = _mm256_fmadd_ps(a3, w, acc[3][o]);
                }
            }
        }
    }
    for (int p = 0; p < 4; p++)
        for (int o = 0; o < nco; o++)
            z[(size_t)p * (size_t)f->cz + (size_t)(co + o)] = bc_hsum8(acc[p][o]) + (f->bias ? f->bias[co + o] : 0.0f);
}

/* One output of one pixel with exactly the arithmetic of bc_ft_blk_avx2 (lane l sums the
 * channels c = l mod 8 with FMAs, taps in the same order, the same horizontal sum), so a pixel
 * gets the same value whether it falls in a block or at a border: tiling never changes it. */
static BC_TGT_FMA float bc_ft_dot_fma(const bc_finish *f, int gy, int gx, int co)
{
    const size_t cin = (size_t)f->cin;
    __m256 acc = _mm256_setzero_ps();
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = gy + dy;
        if (yy < 0 || yy >= f->Hc) continue;
        for (int dx = -1; dx <= 1; dx++) {
            const int xx = gx + dx;
            const size_t t = (size_t)((dy + 1) * 3 + dx + 1) * cin;
            const float *w = f->wt + (size_t)co * 9 * cin + t;
            const float *in = f->feat + ((size_t)yy * (size_t)f->Wc + (size_t)xx) * cin;
            for (size_t c = 0; c < cin; c += 8) {
                const __m256 a = xx < 0 || xx >= f->Wc ? _mm256_setzero_ps() : _mm256_loadu_ps(in + c);
                acc = _mm256_fmadd_ps(a, _mm256_loadu_ps(w + c), acc);
            }
        }
    }
    return bc_hsum8(acc) + (f->bias ? f->bias[co] : 0.0f);
}

/* ---- 8 or more outputs (BBCU-P tails: 12, 27, 48): vectorised over output channels.
 * bc_finish_run repacks the weights to wp = [9][cin][cz8] (cz8: cz rounded up to 8, zero
 * padded) and the bias to b8 [cz8] (zeros without bias). Lane co of an accumulator is output
 * co; per (tap, c) one input value is broadcast and FMA'd into it, so output co of a pixel is
 *   acc = 0; for taps in order, for c = 0 .. cin-1: acc = fma(feat[c], w[tap][c][co], acc)
 *   z = acc + b8[co]
 * with no horizontal sum. Blocks of P pixels x V vectors and single border pixels (which skip
 * the taps outside the map) run exactly that sequence, so tiling never changes a value. */

/* P pixels (gx .. gx+P-1) x V vectors of 8 outputs from vector v0. edge: P == 1 and the taps
 * outside the map are skipped; otherwise all three columns of every pixel must be in the map.
 * Always inlined with constant P, V, edge, so the P*V accumulators stay in registers. */
BC_INL BC_TGT_FMA void bc_ft_blk8(const bc_ft_ctx *x, int gy, int gx, const int P, const int V, int v0, const int edge,
                                  float *z)
{
    const bc_finish *f = &x->f;
    const size_t cin = (size_t)f->cin, cz8 = (size_t)x->cz8, rowlen = (size_t)f->Wc * cin;
    __m256 acc[12][3];
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++) acc[p][v] = _mm256_setzero_ps();
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = gy + dy;
        if (yy < 0 || yy >= f->Hc) continue;
        for (int dx = -1; dx <= 1; dx++) {
            if (edge && (gx + dx < 0 || gx + dx >= f->Wc)) continue;
            const float *in = f->feat + (size_t)yy * rowlen + (size_t)(gx + dx) * cin;
            const float *w = x->wp + (size_t)((dy + 1) * 3 + dx + 1) * cin * cz8 + (size_t)v0 * 8;
            for (size_t c = 0; c < cin; c++, w += cz8) {
                __m256 wv[3];
                for (int v = 0; v < V; v++) wv[v] = _mm256_loadu_ps(w + 8 * v);
                for (int p = 0; p < P; p++) {
                    const __m256 a = _mm256_broadcast_ss(in + (size_t)p * cin + c);
                    for (int v = 0; v < V; v++) acc[p][v] = _mm256_fmadd_ps(a, wv[v], acc[p][v]);
                }
            }
        }
    }
    /* the last vector may reach past cz: store only its lanes below cz */
    const int nv = x->cz8 / 8, rem = f->cz - 8 * (nv - 1);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++) {
            const __m256 r = _mm256_add_ps(acc[p][v], _mm256_loadu_ps(x->b8 + 8 * (v0 + v)));
            float *zp = z + (size_t)p * (size_t)f->cz + (size_t)(8 * (v0 + v));
            if (v0 + v == nv - 1) _mm256_maskstore_ps(zp, mask, r);
            else _mm256_storeu_ps(zp, r);
        }
}

/* Vectors v0 .. v0+V-1 of the interior pixels [ga, gb) (V constant), in blocks of P. */
BC_INL BC_TGT_FMA int bc_ft_run8(const bc_ft_ctx *x, int gy, int ga, int gb, const int P, const int V, int v0, float *z)
{
    int gx = ga;
    for (; gx + P <= gb; gx += P) bc_ft_blk8(x, gy, gx, P, V, v0, 0, z + (size_t)(gx - ga) * (size_t)x->f.cz);
    for (; gx < gb; gx++) bc_ft_blk8(x, gy, gx, 1, V, v0, 0, z + (size_t)(gx - ga) * (size_t)x->f.cz);
    return V;
}

static BC_TGT_FMA void bc_ft_row8_avx2(const bc_ft_ctx *x, int gy, int gx0, int gx1, float *z)
{
    const bc_finish *f = &x->f;
    const int nv = x->cz8 / 8;
    int ga = gx0 > 1 ? gx0 : 1, gb = gx1 < f->Wc - 1 ? gx1 : f->Wc - 1; /* interior: 3 valid columns */
    if (gb < ga) ga = gb = gx1;
    for (int gx = gx0; gx < ga; gx++) /* left border (and everything if there is no interior) */
        for (int v = 0; v < nv; v++) bc_ft_blk8(x, gy, gx, 1, 1, v, 1, z + (size_t)(gx - gx0) * (size_t)f->cz);
    /* vectors in pairs (6 pixels a block: 12 accumulators; measured a little faster than 4 x 3
     * or 3 x 4), an odd rest of 3 as 4 pixels x 3, of 1 as 12 pixels x 1 */
    float *zi = z + (size_t)(ga - gx0) * (size_t)f->cz;
    for (int v = 0; v < nv;) {
        const int left = nv - v;
        if (left == 3) v += bc_ft_run8(x, gy, ga, gb, 4, 3, v, zi);
        else if (left >= 2) v += bc_ft_run8(x, gy, ga, gb, 6, 2, v, zi);
        else v += bc_ft_run8(x, gy, ga, gb, 12, 1, v, zi);
    }
    for (int gx = gb; gx < gx1; gx++) /* right border */
        for (int v = 0; v < nv; v++) bc_ft_blk8(x, gy, gx, 1, 1, v, 1, z + (size_t)(gx - gx0) * (size_t)f->cz);
}

static BC_TGT_FMA void bc_ft_row_avx2(const bc_finish *f, int gy, int gx0, int gx1, float *z)
{
    const bc_ft_ctx *x = (const bc_ft_ctx *)f; /* f is &ctx.f of bc_finish_run */
    if (x->wp) {
        bc_ft_row8_avx2(x, gy, gx0, gx1, z);
        return;
    }
    if (f->cin % 8) {
        bc_ft_row_portable(f, gy, gx0, gx1, z);
        return;
    }
    int gx = gx0;
    for (; gx < gx1 && gx < 1; gx++) /* left border column */
        for (int co = 0; co < f->cz; co++) z[(size_t)(gx - gx0) * (size_t)f->cz + (size_t)co] = bc_ft_dot_fma(f, gy, gx, co);
    for (; gx + 4 <= gx1 && gx + 4 <= f->Wc - 1; gx += 4) {
        float *zp = z + (size_t)(gx - gx0) * (size_t)f->cz;
        int co = 0;
        for (; co + 3 <= f->cz; co += 3) bc_ft_blk_avx2(f, gy, gx, co, 3, zp);
        if (f->cz - co == 2) bc_ft_blk_avx2(f, gy, gx, co, 2, zp);
        else if (f->cz - co == 1) bc_ft_blk_avx2(f, gy, gx, co, 1, zp);
    }
    for (; gx < gx1; gx++)
        for (int co = 0; co < f->cz; co++) z[(size_t)(gx - gx0) * (size_t)f->cz + (size_t)co] = bc_ft_dot_fma(f, gy, gx, co);
}
#endif

/* -------------------------------------------------------------- epilogue */

typedef struct bc_ft_lin {
    int i0, i1;
    float l0, l1;
} bc_ft_lin;

/* PyTorch's bilinear taps (align_corners=False, integer scale factor sb): source position
 * (dst + 0.5) / sb - 0.5, clamped at 0. The weights are computed from the phase dst mod sb
 * alone, so they do not depend on where a tile starts (PyTorch's, computed from dst, differ
 * in the last bit between positions: tiling would change a few output bytes). */
static bc_ft_lin bc_ft_lin_at(int dst, int sb, int n)
{
    bc_ft_lin L;
    const int q = dst / sb;
    const float frac = ((float)(dst - q * sb) + 0.5f) / (float)sb - 0.5f; /* in (-0.5, 0.5) */
    L.i0 = frac < 0.0f ? q - 1 : q;
    L.l1 = frac < 0.0f ? frac + 1.0f : frac;
    if (L.i0 < 0) {
        L.i0 = 0;
        L.l1 = 0.0f;
    }
    if (L.i0 > n - 1) L.i0 = n - 1;
    L.i1 = L.i0 + (L.i0 < n - 1 ? 1 : 0);
    L.l0 = 1.0f - L.l1;
    return L;
}

/* Per output column: offset of its z value (sub-pixel column included) and its bilinear taps. */
typedef struct bc_ft_col {
    size_t zoff, a, b; /* a, b: offsets of the left / right input pixel (times C) */
    float l0, l1;
} bc_ft_col;

/* Round half to even for 0 <= v < 2^23 in the default rounding mode, without a libm call
 * (no -ffast-math in the build, so the two additions are not folded away). */
static inline __attribute__((always_inline)) float bc_rint_pos(float v) { return (v + 8388608.0f) - 8388608.0f; }

/* v clipped to [0, 1]; NaN -> 0 (a NaN fails both comparisons). */
static inline __attribute__((always_inline)) float bc_clip01(float v)
{
    const float c = v > 1.0f ? 1.0f : v;
    return c >= 0.0f ? c : 0.0f;
}

static inline __attribute__((always_inline)) void bc_ft_store_row(const bc_finish *f, const float *v, size_t n, size_t off)
{
    if (f->dtype == BC_OUT_F32) {
        memcpy((float *)f->dst + off, v, n * sizeof(float));
        return;
    }
    /* one branch-free loop per dtype, so that compilers vectorise them (min/max-like selects) */
    if (f->dtype == BC_OUT_U8) {
        uint8_t *d = (uint8_t *)f->dst + off;
        for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(int32_t)bc_rint_pos(bc_clip01(v[i]) * 255.0f);
    } else {
        uint16_t *d = (uint16_t *)f->dst + off;
        for (size_t i = 0; i < n; i++) d[i] = (uint16_t)(int32_t)bc_rint_pos(bc_clip01(v[i]) * 65535.0f);
    }
}

/* SR values of one output row: z / k + bilinear(x) (= (z + bilinear(x * k)) / k up to rounding).
 * Always inlined with a constant C where it matters (C = 3), so the channel loop unrolls. */
static inline __attribute__((always_inline)) void bc_ft_sr_row(const bc_finish *f, const float *zi, const bc_ft_col *cols,
                                                                float *vals, const float *t, const int C, int n, int rr)
{
    const float inv = 1.0f / f->k;
    for (int X = 0; X < n; X++) {
        const bc_ft_col *cl = &cols[X];
        for (int c = 0; c < C; c++)
            vals[X * C + c] = zi[cl->zoff + (size_t)(c * rr)] * inv + (cl->l0 * t[cl->a + c] + cl->l1 * t[cl->b + c]);
    }
}

/* One output row Y (sub-pixel row i of its grid row) into vals, then stored; t: scratch of an
 * input row (the vertical half of the bilinear base). */
static inline __attribute__((always_inline)) void bc_ft_emit_row(const bc_finish *f, int Y, int i, const float *z, const bc_ft_col *cols, float *vals, float *t)
{
    const int C = f->C, n = f->x1 - f->x0, rr = f->r * f->r;
    const float *zi = z + (size_t)i * (size_t)f->r;
    if (f->mode == BC_FIN_SR) {
        const bc_ft_lin Ly = bc_ft_lin_at(Y, f->sb, f->Hx);
        const size_t W = (size_t)f->Wx * (size_t)C;
        const float *r0 = f->x + (size_t)Ly.i0 * W, *r1 = f->x + (size_t)Ly.i1 * W;
        for (size_t q = 0; q < W; q++) t[q] = Ly.l0 * r0[q] + Ly.l1 * r1[q];
        if (C == 3) bc_ft_sr_row(f, zi, cols, vals, t, 3, n, rr);
        else bc_ft_sr_row(f, zi, cols, vals, t, C, n, rr);
    } else {
        const float inv = 1.0f / f->k;
        const float *xr = f->x + ((size_t)Y * (size_t)f->Wx + (size_t)f->x0) * (size_t)C;
        for (int X = 0; X < n; X++)
            for (int c = 0; c < C; c++) vals[X * C + c] = xr[X * C + c] - zi[cols[X].zoff + (size_t)(c * rr)] * inv;
    }
    bc_ft_store_row(f, vals, (size_t)n * (size_t)C, (size_t)(Y - f->y0) * (size_t)f->dst_row);
}

typedef void (*bc_ft_row_fn)(const bc_finish *, int, int, int, float *);

static inline __attribute__((always_inline)) void bc_ft_rows(void *arg, int r0, int r1, bc_ft_row_fn conv)
{
    bc_job *job = (bc_job *)arg;
    const bc_finish *f = (const bc_finish *)job->args;
    const int r = f->r, ga = f->y0 / r - f->gy0, gx0 = f->x0 / r - f->gx0, gx1 = (f->x1 - 1) / r - f->gx0 + 1;
    const int n = f->x1 - f->x0;
    float *z = f->wt ? (float *)malloc((size_t)(gx1 - gx0) * (size_t)f->cz * sizeof(float)) : NULL;
    bc_ft_col *cols = (bc_ft_col *)malloc((size_t)n * sizeof(bc_ft_col));
    float *vals = (float *)malloc(((size_t)n + (size_t)f->Wx) * (size_t)f->C * sizeof(float));
    if ((f->wt && !z) || !cols || !vals) {
        free(z);
        free(cols);
        free(vals);
        bc_job_fail(job);
        return;
    }
    for (int X = f->x0; X < f->x1; X++) {
        const int ax = X / r;
        const bc_ft_lin L = bc_ft_lin_at(X, f->sb, f->Wx);
        bc_ft_col *cl = &cols[X - f->x0];
        cl->zoff = (size_t)(ax - f->gx0 - gx0) * (size_t)f->cz + (size_t)(X - ax * r);
        cl->a = (size_t)L.i0 * (size_t)f->C;
        cl->b = (size_t)L.i1 * (size_t)f->C;
        cl->l0 = L.l0;
        cl->l1 = L.l1;
    }
    for (int row = r0; row < r1; row++) {
        const int gy = ga + row, A = gy + f->gy0;
        const float *zr = z;
        if (f->wt) conv(f, gy, gx0, gx1, z);
        else zr = f->zin + ((size_t)gy * (size_t)f->Wc + (size_t)gx0) * (size_t)f->cz;
        const int Y0 = A * r > f->y0 ? A * r : f->y0, Y1 = A * r + r < f->y1 ? A * r + r : f->y1;
        for (int Y = Y0; Y < Y1; Y++) bc_ft_emit_row(f, Y, Y - A * r, zr, cols, vals, vals + (size_t)n * (size_t)f->C);
    }
    free(z);
    free(cols);
    free(vals);
}

static void bc_finish_rows_portable(void *arg, int r0, int r1) { bc_ft_rows(arg, r0, r1, bc_ft_row_portable); }
#ifdef BC_X86
/* the epilogue inlined here too, so that it is vectorised with AVX2 (elementwise: same values) */
static BC_TGT_FMA void bc_finish_rows_avx2(void *arg, int r0, int r1) { bc_ft_rows(arg, r0, r1, bc_ft_row_avx2); }
#endif

/* -------------------------------------------------------------- AVX-512 form of the wide conv */
#ifdef BC_X86
#define BC_TGT_F512 __attribute__((target("avx512f,avx2,fma")))

/* bc_ft_blk8 with 16 outputs a vector (wp = [9][cin][cz16], lanes past cz zero-padded). */
BC_INL BC_TGT_F512 void bc_ft_blk16(const bc_ft_ctx *x, int gy, int gx, const int P, const int V, int v0, const int edge,
                                    float *z)
{
    const bc_finish *f = &x->f;
    const size_t cin = (size_t)f->cin, cz16 = (size_t)x->cz8, rowlen = (size_t)f->Wc * cin;
    __m512 acc[16][3];
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++) acc[p][v] = _mm512_setzero_ps();
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = gy + dy;
        if (yy < 0 || yy >= f->Hc) continue;
        for (int dx = -1; dx <= 1; dx++) {
            if (edge && (gx + dx < 0 || gx + dx >= f->Wc)) continue;
            const float *in = f->feat + (size_t)yy * rowlen + (size_t)(gx + dx) * cin;
            const float *w = x->wp + (size_t)((dy + 1) * 3 + dx + 1) * cin * cz16 + (size_t)v0 * 16;
            for (size_t c = 0; c < cin; c++, w += cz16) {
                __m512 wv[3];
                for (int v = 0; v < V; v++) wv[v] = _mm512_loadu_ps(w + 16 * v);
                for (int p = 0; p < P; p++) {
                    const __m512 a = _mm512_set1_ps(in[(size_t)p * cin + c]);
                    for (int v = 0; v < V; v++) acc[p][v] = _mm512_fmadd_ps(a, wv[v], acc[p][v]);
                }
            }
        }
    }
    const int nv = x->cz8 / 16, rem = f->cz - 16 * (nv - 1);
    const __mmask16 last = (__mmask16)((1u << rem) - 1u);
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++) {
            const __m512 r = _mm512_add_ps(acc[p][v], _mm512_loadu_ps(x->b8 + 16 * (v0 + v)));
            float *zp = z + (size_t)p * (size_t)f->cz + (size_t)(16 * (v0 + v));
            if (v0 + v == nv - 1) _mm512_mask_storeu_ps(zp, last, r);
            else _mm512_storeu_ps(zp, r);
        }
}

BC_INL BC_TGT_F512 int bc_ft_run16(const bc_ft_ctx *x, int gy, int ga, int gb, const int P, const int V, int v0, float *z)
{
    int gx = ga;
    for (; gx + P <= gb; gx += P) bc_ft_blk16(x, gy, gx, P, V, v0, 0, z + (size_t)(gx - ga) * (size_t)x->f.cz);
    for (; gx < gb; gx++) bc_ft_blk16(x, gy, gx, 1, V, v0, 0, z + (size_t)(gx - ga) * (size_t)x->f.cz);
    return V;
}

/* bc_ft_row8_avx2 with 16-output vectors: 3 at a time as 8 pixels (24 accumulators), 2 as 12,
 * 1 as 16. */
static BC_TGT_F512 void bc_ft_row16_512(const bc_ft_ctx *x, int gy, int gx0, int gx1, float *z)
{
    const bc_finish *f = &x->f;
    const int nv = x->cz8 / 16;
    int ga = gx0 > 1 ? gx0 : 1, gb = gx1 < f->Wc - 1 ? gx1 : f->Wc - 1;
    if (gb < ga) ga = gb = gx1;
    for (int gx = gx0; gx < ga; gx++)
        for (int v = 0; v < nv; v++) bc_ft_blk16(x, gy, gx, 1, 1, v, 1, z + (size_t)(gx - gx0) * (size_t)f->cz);
    float *zi = z + (size_t)(ga - gx0) * (size_t)f->cz;
    for (int v = 0; v < nv;) {
        const int left = nv - v;
        if (left >= 3) v += bc_ft_run16(x, gy, ga, gb, 8, 3, v, zi);
        else if (left == 2) v += bc_ft_run16(x, gy, ga, gb, 12, 2, v, zi);
        else v += bc_ft_run16(x, gy, ga, gb, 16, 1, v, zi);
    }
    for (int gx = gb; gx < gx1; gx++)
        for (int v = 0; v < nv; v++) bc_ft_blk16(x, gy, gx, 1, 1, v, 1, z + (size_t)(gx - gx0) * (size_t)f->cz);
}

/* The AVX-512 path is only chosen for 8 or more outputs (bc_finish_run), so wp is set. */
static BC_TGT_F512 void bc_ft_row_512(const bc_finish *f, int gy, int gx0, int gx1, float *z)
{
    bc_ft_row16_512((const bc_ft_ctx *)f, gy, gx0, gx1, z);
}

static BC_TGT_F512 void bc_finish_rows_avx512(void *arg, int r0, int r1) { bc_ft_rows(arg, r0, r1, bc_ft_row_512); }
#endif
