/*
 * Full-precision head conv in float64 (see bc_head in bitconv.h).
 *
 * The head's output feeds the first sign decision, so it must be the same float32 values the
 * PyTorch path computes (bbcu_cli.models.head.head_conv: conv2d in float64, rounded to
 * float32). Here every output value is accumulated in float64 in one fixed order: start at
 * +0.0, add in[y+ky-1][x+kx-1][c] * w for taps t = 3*ky + kx in order and channels c in order
 * (taps outside the image add 0 * w, which leaves the sum as it is: it is never -0), add the
 * bias last, round to float32 once and add +0.0f (a zero result is +0, as in the PyTorch
 * helper). The portable and the AVX2 code (vectorised over 4 pixels x 8 outputs, separate
 * multiply and add, no FMA) perform exactly these operations, so they give identical bits.
 *
 * Two float64 sums of the same products in different orders differ by a few float64 ulps;
 * rounded to float32 they agree unless the exact value lies within ~1e-16 (relative) of a
 * float32 rounding midpoint (probability about 1e-9 per value).
 */

typedef struct bc_hd_ctx {
    bc_head h;        /* first member: the row functions receive &ctx->h */
    const double *wp; /* [9][cin][co8], outputs zero-padded to co8 */
    int co8;
} bc_hd_ctx;

/* Rows y-1..y+1 of the input as float64 with a zero border: [3][W+2][cin]. */
static void bc_hd_rows(const bc_head *h, int y, double *pad)
{
    const size_t rw = (size_t)(h->W + 2) * (size_t)h->cin, n = (size_t)h->W * (size_t)h->cin;
    memset(pad, 0, 3 * rw * sizeof(double));
    for (int k = 0; k < 3; k++) {
        const int yy = y + k - 1;
        if (yy < 0 || yy >= h->H) continue;
        const float *s = h->src + (size_t)yy * n;
        double *d = pad + (size_t)k * rw + (size_t)h->cin;
        for (size_t i = 0; i < n; i++) d[i] = (double)s[i];
    }
}

/* Round outputs [co0, co0 + n) of pixel (y, x) to float32 into the NCHW output. */
static void bc_hd_store(const bc_head *h, int y, int x, int co0, int n, const double *acc)
{
    const size_t plane = (size_t)h->H * (size_t)h->W, at = (size_t)y * (size_t)h->W + (size_t)x;
    for (int j = 0; j < n && co0 + j < h->cout; j++) {
        const int co = co0 + j;
        h->dst[(size_t)co * plane + at] = (float)(h->bias ? acc[j] + h->bias[co] : acc[j]) + 0.0f;
    }
}

/* One pixel, every output (the portable path, and the AVX2 path's last pixels of a row). */
static void bc_hd_pixel(const bc_hd_ctx *c, int y, int x, const double *pad, double *acc)
{
    const bc_head *h = &c->h;
    const size_t cin = (size_t)h->cin, rw = (size_t)(h->W + 2) * cin, co8 = (size_t)c->co8;
    for (size_t co = 0; co < co8; co++) acc[co] = 0.0;
    for (int t = 0; t < 9; t++) {
        const double *p = pad + (size_t)(t / 3) * rw + (size_t)(x + t % 3) * cin;
        for (size_t ci = 0; ci < cin; ci++) {
            const double v = p[ci], *w = c->wp + ((size_t)t * cin + ci) * co8;
            for (size_t co = 0; co < co8; co++) acc[co] += v * w[co];
        }
    }
    bc_hd_store(h, y, x, 0, c->co8, acc);
}

static double *bc_hd_scratch(const bc_hd_ctx *c)
{
    return (double *)malloc((3 * (size_t)(c->h.W + 2) * (size_t)c->h.cin + (size_t)c->co8) * sizeof(double));
}

typedef void (*bc_hd_row_fn)(const bc_hd_ctx *c, int y, const double *pad, double *acc);

/* Rows [r0, r1) of the output: each row's padded input rows, then `row` computes its pixels. */
static void bc_hd_rows_with(void *arg, int r0, int r1, bc_hd_row_fn row)
{
    const bc_hd_ctx *c = (const bc_hd_ctx *)((bc_job *)arg)->args;
    double *pad = bc_hd_scratch(c);
    if (!pad) {
        bc_job_fail((bc_job *)arg);
        return;
    }
    double *acc = pad + 3 * (size_t)(c->h.W + 2) * (size_t)c->h.cin;
    for (int y = r0; y < r1; y++) {
        bc_hd_rows(&c->h, y, pad);
        row(c, y, pad, acc);
    }
    free(pad);
}

static void bc_hd_row_portable(const bc_hd_ctx *c, int y, const double *pad, double *acc)
{
    for (int x = 0; x < c->h.W; x++) bc_hd_pixel(c, y, x, pad, acc);
}

static void bc_head_rows_portable(void *arg, int r0, int r1) { bc_hd_rows_with(arg, r0, r1, bc_hd_row_portable); }

#ifdef BC_X86
#define BC_TGT_HD __attribute__((target("avx2")))

/* Outputs cb..cb+7 of pixels x..x+3 (all < cout) into the NCHW output: the same operations as
 * bc_hd_store (float64 bias add, one rounding to float32, + 0.0f), four pixels per store. */
BC_TGT_HD static void bc_hd_store4_avx2(const bc_head *h, int y, int x, int cb, __m256d a[4][2])
{
    const size_t plane = (size_t)h->H * (size_t)h->W, at = (size_t)y * (size_t)h->W + (size_t)x;
    const __m128 zero = _mm_setzero_ps();
    for (int half = 0; half < 2; half++) {
        const __m256d b = h->bias ? _mm256_loadu_pd(h->bias + cb + 4 * half) : _mm256_setzero_pd();
        __m128 v[4];
        for (int p = 0; p < 4; p++) {
            const __m256d s = h->bias ? _mm256_add_pd(a[p][half], b) : a[p][half];
            v[p] = _mm_add_ps(_mm256_cvtpd_ps(s), zero); /* v[p][j] = output cb + 4*half + j of pixel p */
        }
        _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]); /* v[j][p] */
        for (int j = 0; j < 4; j++) _mm_storeu_ps(h->dst + (size_t)(cb + 4 * half + j) * plane + at, v[j]);
    }
}

/* Pixels x..x+3, outputs cb..cb+7: 8 accumulators, the same operations as bc_hd_pixel. */
BC_TGT_HD static void bc_hd_block_avx2(const bc_hd_ctx *c, int y, int x, int cb, const double *pad)
{
    const bc_head *h = &c->h;
    const size_t cin = (size_t)h->cin, rw = (size_t)(h->W + 2) * cin, co8 = (size_t)c->co8;
    __m256d a[4][2];
    for (int p = 0; p < 4; p++) a[p][0] = a[p][1] = _mm256_setzero_pd();
    for (int t = 0; t < 9; t++) {
        const double *row = pad + (size_t)(t / 3) * rw + (size_t)(x + t % 3) * cin;
        for (size_t ci = 0; ci < cin; ci++) {
            const double *w = c->wp + ((size_t)t * cin + ci) * co8 + (size_t)cb;
            const __m256d w0 = _mm256_loadu_pd(w), w1 = _mm256_loadu_pd(w + 4);
            for (int p = 0; p < 4; p++) {
                const __m256d v = _mm256_broadcast_sd(row + (size_t)p * cin + ci);
                a[p][0] = _mm256_add_pd(a[p][0], _mm256_mul_pd(v, w0));
                a[p][1] = _mm256_add_pd(a[p][1], _mm256_mul_pd(v, w1));
            }
        }
    }
    if (cb + 8 > h->cout) { /* the last, partial group of outputs: scalar stores */
        double out[4][8];
        for (int p = 0; p < 4; p++) {
            _mm256_storeu_pd(out[p], a[p][0]);
            _mm256_storeu_pd(out[p] + 4, a[p][1]);
        }
        for (int p = 0; p < 4; p++) bc_hd_store(h, y, x + p, cb, 8, out[p]);
        return;
    }
    __m256d fin[4][2]; /* a copy: the accumulators' address never escapes, so they stay in registers */
    for (int p = 0; p < 4; p++) fin[p][0] = a[p][0], fin[p][1] = a[p][1];
    bc_hd_store4_avx2(h, y, x, cb, fin);
}

BC_TGT_HD static void bc_hd_row_avx2(const bc_hd_ctx *c, int y, const double *pad, double *acc)
{
    int x = 0;
    for (; x + 4 <= c->h.W; x += 4)
        for (int cb = 0; cb < c->co8; cb += 8) bc_hd_block_avx2(c, y, x, cb, pad);
    for (; x < c->h.W; x++) bc_hd_pixel(c, y, x, pad, acc);
}

static void bc_head_rows_avx2(void *arg, int r0, int r1) { bc_hd_rows_with(arg, r0, r1, bc_hd_row_avx2); }
#endif

#ifdef BC_X86
#define BC_TGT_HD512 __attribute__((target("avx512f,avx2")))

/* Pixels x..x+3, outputs cb..cb+15 (all < cout): bc_hd_block_avx2's operations on 8 float64
 * lanes (multiply, then add, no FMA), so the values are the same bits. */
BC_TGT_HD512 static void bc_hd_block_512(const bc_hd_ctx *c, int y, int x, int cb, const double *pad)
{
    const bc_head *h = &c->h;
    const size_t cin = (size_t)h->cin, rw = (size_t)(h->W + 2) * cin, co8 = (size_t)c->co8;
    __m512d a[4][2];
    for (int p = 0; p < 4; p++) a[p][0] = a[p][1] = _mm512_setzero_pd();
    for (int t = 0; t < 9; t++) {
        const double *row = pad + (size_t)(t / 3) * rw + (size_t)(x + t % 3) * cin;
        for (size_t ci = 0; ci < cin; ci++) {
            const double *w = c->wp + ((size_t)t * cin + ci) * co8 + (size_t)cb;
            const __m512d w0 = _mm512_loadu_pd(w), w1 = _mm512_loadu_pd(w + 8);
            for (int p = 0; p < 4; p++) {
                const __m512d v = _mm512_set1_pd(row[(size_t)p * cin + ci]);
                a[p][0] = _mm512_add_pd(a[p][0], _mm512_mul_pd(v, w0));
                a[p][1] = _mm512_add_pd(a[p][1], _mm512_mul_pd(v, w1));
            }
        }
    }
    float out[4][16];
    for (int p = 0; p < 4; p++)
        for (int half = 0; half < 2; half++) {
            const __m512d b = h->bias ? _mm512_loadu_pd(h->bias + cb + 8 * half) : _mm512_setzero_pd();
            const __m512d s = h->bias ? _mm512_add_pd(a[p][half], b) : a[p][half];
            _mm256_storeu_ps(out[p] + 8 * half, _mm256_add_ps(_mm512_cvtpd_ps(s), _mm256_setzero_ps()));
        }
    const size_t plane = (size_t)h->H * (size_t)h->W, at = (size_t)y * (size_t)h->W + (size_t)x;
    for (int j = 0; j < 16; j++) _mm_storeu_ps(h->dst + (size_t)(cb + j) * plane + at, _mm_setr_ps(out[0][j], out[1][j], out[2][j], out[3][j]));
}

/* Blocks of 4 pixels x 16 outputs where whole; the rest (a last group of 8 outputs when cout
 * is an odd multiple of 8 or less, the last pixels of a row) as on AVX2 and portable. */
BC_TGT_HD512 static void bc_hd_row_512(const bc_hd_ctx *c, int y, const double *pad, double *acc)
{
    const int c16 = c->h.cout / 16 * 16;
    int x = 0;
    for (; x + 4 <= c->h.W; x += 4) {
        for (int cb = 0; cb < c16; cb += 16) bc_hd_block_512(c, y, x, cb, pad);
        for (int cb = c16; cb < c->co8; cb += 8) bc_hd_block_avx2(c, y, x, cb, pad);
    }
    for (; x < c->h.W; x++) bc_hd_pixel(c, y, x, pad, acc);
}

static void bc_head_rows_512(void *arg, int r0, int r1) { bc_hd_rows_with(arg, r0, r1, bc_hd_row_512); }
#endif
