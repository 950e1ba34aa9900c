/*
 * PNG filter type 4 (Paeth) of 8-bit rows, for the PNG writer (bbcu_cli/imagefiles/_png.py):
 * each output row is the filter byte 4, then per byte the raw byte minus the Paeth predictor
 * of its left (bpp bytes back), up and up-left neighbours, modulo 256; neighbours outside the
 * image are 0 (PNG specification, section 9). Rows are independent, so they run on the pool.
 */

static inline uint8_t bc_paeth(int a, int b, int c)
{
    const int p = a + b - c;
    const int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c));
}

static void bc_png_row(const uint8_t *row, const uint8_t *up, int64_t n, int bpp, uint8_t *out)
{
    out[0] = 4;
    out++;
    if (!up) { /* first row: up and up-left are 0, the predictor is the left byte */
        for (int64_t i = 0; i < n; i++) out[i] = (uint8_t)(row[i] - (i >= bpp ? row[i - bpp] : 0));
        return;
    }
    for (int64_t i = 0; i < bpp && i < n; i++) out[i] = (uint8_t)(row[i] - up[i]); /* left 0: predictor up */
    for (int64_t i = bpp; i < n; i++) out[i] = (uint8_t)(row[i] - bc_paeth(row[i - bpp], up[i], up[i - bpp]));
}

static void bc_png_rows(void *arg, int r0, int r1)
{
    const bc_png *g = (const bc_png *)((bc_job *)arg)->args;
    for (int y = r0; y < r1; y++) {
        const uint8_t *row = g->src + (int64_t)y * g->rowbytes;
        bc_png_row(row, y ? row - g->rowbytes : NULL, g->rowbytes, g->bpp, g->dst + (int64_t)y * (g->rowbytes + 1));
    }
}

BC_API int bc_png_paeth(const bc_png *g, int nthreads)
{
    if (!g || !g->src || !g->dst || g->h < 1 || g->bpp < 1 || g->bpp > 8 || g->rowbytes < g->bpp) return -1;
    bc_job job = {g, 0};
    bc_parallel(bc_png_rows, &job, g->h, nthreads);
    return 0;
}
