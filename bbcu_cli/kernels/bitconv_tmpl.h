/*
 * Row drivers, instantiated once per ISA by bitconv.c. Before including, define
 *   SFX(name)  -> name suffixed with the ISA (e.g. name##_avx2)
 *   BC_T       -> target attribute for the row functions (may be empty)
 * and the ISA primitives SFX(pix), SFX(pixm), SFX(epi), SFX(pack), SFX(transpose) (one NCHW
 * row to NHWC), SFX(epipack) (epi then pack,
 * fused where the ISA has a faster way), SFX(pc), SFX(weights).
 */

/* Raw counts for one output pixel; returns the border-corrected base and sets *E to the
 * border correction (NULL where none applies: interior pixels and masked rows). */
BC_T static inline __attribute__((always_inline)) int32_t SFX(counts)(
    const bc_unit *u, const uint64_t *wk, ptrdiff_t rs, int y, int x, int masked, int32_t *S,
    const int32_t **E)
{
    const size_t cell = ((size_t)y * (size_t)(u->W + 2) + (size_t)x) * (size_t)u->nw_in;
    const uint64_t *p0 = u->pin + cell;
    if (masked) {
        const uint64_t *m0 = u->min + cell;
        int32_t base = 0;
        SFX(pixm)(p0, m0, rs, u->nw_in, wk, u->co8, S);
        for (int t = 0; t < 9; t++)
            for (int w = 0; w < u->nw_in; w++) base += (int32_t)SFX(pc)(m0[(t / 3) * rs + (t % 3) * u->nw_in + w]);
        *E = NULL;
        return base;
    }
    SFX(pix)(p0, rs, u->nw_in, wk, u->co8, S);
    const int top = y == 0, bot = y == u->H - 1, lft = x == 0, rgt = x == u->W - 1;
    const int type = top | bot << 1 | lft << 2 | rgt << 3;
    *E = type ? u->ecorr + (size_t)type * (size_t)u->co8 : NULL;
    return (3 - top - bot) * (3 - lft - rgt) * u->cin;
}

/* Epilogue, packing and store for the r*r outputs of one input pixel; returns zero flags. */
BC_T static inline __attribute__((always_inline)) unsigned SFX(emit)(
    const bc_unit *u, int y, int x, const int32_t *S, int32_t base, const int32_t *E)
{
    const int r = u->r, chr = u->chr;
    const size_t Wo = (size_t)u->W * (size_t)r;
    const float *xr = u->xres + ((size_t)y * (size_t)u->W + (size_t)x) * (size_t)chr;
    unsigned zflags = 0;
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < r; j++) {
            const int q0 = (i * r + j) * chr;
            const size_t oy = (size_t)y * (size_t)r + (size_t)i, ox = (size_t)x * (size_t)r + (size_t)j;
            float *yp = u->yout + (oy * Wo + ox) * (size_t)chr;
            const int32_t *Eq = E ? E + q0 : NULL;
            if (u->bnext) {
                const size_t o = ((oy + 1) * (Wo + 2) + ox + 1) * (size_t)u->nw_out;
                if (SFX(epipack)(u, q0, S + q0, base, Eq, xr, yp, u->pout + o, u->mout + o)) zflags |= 1u << i;
            } else {
                SFX(epi)(u, q0, S + q0, base, Eq, xr, yp);
            }
        }
    }
    return zflags;
}

static inline int SFX(row_masked)(const bc_unit *u, int y)
{
    int m = u->zin[y];
    if (y > 0) m |= u->zin[y - 1];
    if (y + 1 < u->H) m |= u->zin[y + 1];
    return m;
}

BC_T static void SFX(unit_rows)(void *arg, int r0, int r1)
{
    bc_job *job = (bc_job *)arg;
    /* a local copy: float stores through y cannot alias it, so its fields stay in registers */
    const bc_unit local = *(const bc_unit *)job->args;
    const bc_unit *u = &local;
    const int W = u->W;
    const ptrdiff_t rs = (ptrdiff_t)(W + 2) * u->nw_in;
    bc_scratch_mem mem;
    uint64_t *owned = NULL;
    const uint64_t *wk = SFX(weights)(u, &owned); /* the ISA's weight layout */
    if (!wk || bc_scratch_alloc(&mem, u->co8)) {
        free(owned);
        bc_job_fail(job);
        return;
    }
    for (int y = r0; y < r1; y++) {
        const int masked = SFX(row_masked)(u, y);
        unsigned zflags = 0;
        for (int x = 0; x < W; x++) {
            const int32_t *E;
            const int32_t base = SFX(counts)(u, wk, rs, y, x, masked, mem.S, &E);
            if (u->counts) {
                int32_t *dst = u->counts + ((size_t)y * (size_t)W + (size_t)x) * (size_t)u->cout;
                for (int q = 0; q < u->cout; q++) dst[q] = base - 2 * (mem.S[q] - (E ? E[q] : 0));
                continue;
            }
            zflags |= SFX(emit)(u, y, x, mem.S, base, E);
        }
        if (u->bnext && !u->counts)
            for (int i = 0; i < u->r; i++) u->zout[y * u->r + i] = (uint8_t)((zflags >> i) & 1u);
    }
    bc_scratch_free(&mem);
    free(owned);
}

BC_T static void SFX(entry_rows)(void *arg, int r0, int r1)
{
    const bc_entry *e = (const bc_entry *)((bc_job *)arg)->args;
    const int W = e->W, C = e->C;
    const size_t HW = (size_t)e->H * (size_t)W, rowlen = (size_t)W * (size_t)C;
    for (int y = r0; y < r1; y++) {
        float *drow = e->dst + (size_t)y * rowlen;
        SFX(transpose)(e->src + (size_t)y * (size_t)W, HW, W, C, drow);
        bc_act_inplace(drow, rowlen, e->act);
        int z = 0;
        for (int x = 0; x < W; x++) {
            const size_t o = ((size_t)(y + 1) * (size_t)(W + 2) + (size_t)x + 1) * (size_t)e->nw;
            z |= SFX(pack)(drow + (size_t)x * (size_t)C, e->bnext, C, e->pout + o, e->mout + o);
        }
        e->zout[y] = (uint8_t)z;
    }
}
