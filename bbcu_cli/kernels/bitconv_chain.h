/*
 * A chain of plain units run as a wavefront over row bands (bc_chain_run, see bitconv.h).
 *
 * Run one unit after another over the whole image and every unit streams the float residual
 * (H * W * C * 4 bytes: 14.7 MB for 64 channels at 320x180, 118 MB for 32 at 1280x720) in
 * from memory and out again; the chain instead cuts the rows into bands and runs stage k on
 * band j as soon as stage k - 1 has finished bands j - 1 .. j + 1, so a band's residual and
 * packed rows are still in cache when the next unit takes them. The stages are the optional
 * entry (bc_entry: head activation, NCHW -> NHWC, first packing) and the units, each over the
 * rows it would cover alone, with the same row function: the output is bit for bit that of
 * running them one by one.
 *
 * Why the one dependency suffices with the chain's two ping-pong grids and the residual updated
 * in place: stage k + 1 on band j reads packed rows a - 1 .. b of its input and residual rows
 * a .. b - 1, all written by stage k on bands j - 1 .. j + 1; it writes packed rows a .. b - 1 of
 * the other grid, which stage k read for its rows a - 1 .. b, i.e. its bands j - 1 .. j + 1 again
 * (and stage k - 1 wrote them before stage k ran). Work items are numbered along the diagonals
 * (band + 2 * stage) and claimed in that order, and each waits only on items with smaller numbers:
 * no deadlock for any number of threads.
 */

typedef struct bc_chain_stage {
    bc_rows_fn fn;
    bc_job job;
#ifdef BC_HAVE_AMX
    bc_amx_ctx amx;
#endif
} bc_chain_stage;

typedef struct bc_chain_run_ctx {
    bc_chain_stage *stages;
    int nstages, nbands, band, rows;
    int *item_stage, *item_band;
    uint8_t *done; /* [nstages][nbands], set with release order when an item is finished */
} bc_chain_run_ctx;

static void bc_chain_pause(unsigned *spins)
{
#ifdef BC_X86
    if (++*spins < 256) {
        __builtin_ia32_pause();
        return;
    }
#else
    ++*spins;
#endif
#if !defined(_WIN32)
    sched_yield(); /* the producer may be descheduled (shared machine): let it run */
#endif
}

/* Wait until stage k - 1 has finished bands j - 1 .. j + 1 (clipped to the image). */
static void bc_chain_wait(const bc_chain_run_ctx *c, int k, int j)
{
    if (k == 0) return;
    const uint8_t *prev = c->done + (size_t)(k - 1) * (size_t)c->nbands;
    const int lo = j > 0 ? j - 1 : 0, hi = j + 1 < c->nbands ? j + 1 : c->nbands - 1;
    for (int b = lo; b <= hi; b++) {
        unsigned spins = 0;
        while (!__atomic_load_n(prev + b, __ATOMIC_ACQUIRE)) bc_chain_pause(&spins);
    }
}

static void bc_chain_items(void *arg, int i0, int i1)
{
    bc_chain_run_ctx *c = (bc_chain_run_ctx *)((bc_job *)arg)->args;
    for (int i = i0; i < i1; i++) {
        const int k = c->item_stage[i], j = c->item_band[i];
        bc_chain_wait(c, k, j);
        bc_chain_stage *s = c->stages + k;
        const int r0 = j * c->band, r1 = r0 + c->band < c->rows ? r0 + c->band : c->rows;
        s->fn(&s->job, r0, r1);
        __atomic_store_n(c->done + (size_t)k * (size_t)c->nbands + j, 1, __ATOMIC_RELEASE);
    }
}

/* The row function and job of unit u as bc_unit_run would pick them; -2: out of memory. */
static int bc_chain_unit_stage(const bc_unit *u, bc_chain_stage *s)
{
    const int isa = bc_get_isa();
    s->fn = bc_impls[isa].unit;
    s->job.args = u;
    s->job.failed = 0;
#ifdef BC_HAVE_AMX
    s->amx.wv = NULL;
    if (bc_get_amx()) {
        if (bc_amx_prepare(u, &s->amx)) return -2;
        s->fn = unit_rows_amx;
        s->job.args = &s->amx;
        return 0;
    }
#endif
#ifdef BC_X86
    if (isa == BC_ISA_AVX2 && u->cin <= 32) s->fn = unit_rows_avx2n;
#endif
    return 0;
}

static void bc_chain_free(bc_chain_run_ctx *c)
{
#ifdef BC_HAVE_AMX
    for (int k = 0; c->stages && k < c->nstages; k++) free((void *)c->stages[k].amx.wv);
#endif
    free(c->stages);
    free(c->item_stage);
    free(c->item_band);
    free(c->done);
}

/* Items in diagonal order: item (stage k, band j) on diagonal j + 2k, stages ascending. Its
 * inputs, stage k - 1 up to band j + 1, lie on earlier diagonals, so the items of one diagonal
 * can run side by side (on diagonal j + k, each item would wait for the one before it). */
static void bc_chain_order(bc_chain_run_ctx *c)
{
    int i = 0;
    for (int d = 0; d < c->nbands + 2 * c->nstages - 2; d++)
        for (int k = 0; k < c->nstages; k++) {
            const int j = d - 2 * k;
            if (j < 0 || j >= c->nbands) continue;
            c->item_stage[i] = k;
            c->item_band[i++] = j;
        }
}

static int bc_chain_invalid(const bc_chain *ch)
{
    if (ch->n < 1 || !ch->units) return 1;
    const bc_unit *u0 = ch->units;
    for (int k = 0; k < ch->n; k++) {
        const bc_unit *u = ch->units + k;
        if (bc_unit_invalid(u) || u->r != 1 || u->counts || u->H != u0->H || u->W != u0->W) return 1;
        if (k + 1 < ch->n && (!u->bnext || u->pout != ch->units[k + 1].pin)) return 1;
    }
    const bc_entry *e = ch->entry;
    return e && (bc_entry_invalid(e) || e->H != u0->H || e->W != u0->W || e->C != u0->cin || e->pout != u0->pin);
}

/* Rows per band unless given: the rows in flight (stages k lag two bands each: about 2 * stages
 * * band rows) near 24 MiB of residual, 2 .. 16 rows. Measured on an Intel Xeon with AMX, 2
 * threads, units at 1280x720 (benchmarks/wavefront.py): 32 channels, 9 stages, best at 8 rows
 * (24 MiB); 64 channels, 13 stages, best at 2-4 rows (17-34 MiB), 8 rows (68 MiB) lost most of
 * the gain. Fewer rows re-expand more halo rows on AMX and claim more items. */
static int bc_chain_band(const bc_chain *ch, int nstages)
{
    if (ch->band > 0) return ch->band;
    const double row = (double)ch->units[0].W * (double)ch->units[0].cin * sizeof(float);
    const double b = (double)(24 << 20) / (2.0 * (double)nstages * row);
    return b < 2.0 ? 2 : b > 16.0 ? 16 : (int)(b + 0.5);
}

BC_API int bc_chain_run(const bc_chain *ch, int nthreads)
{
    if (!ch || bc_chain_invalid(ch)) return -1;
    const int nstages = ch->n + (ch->entry ? 1 : 0);
    bc_chain_run_ctx c = {NULL, nstages, 0, bc_chain_band(ch, nstages), ch->units[0].H, NULL, NULL, NULL};
    c.nbands = (c.rows + c.band - 1) / c.band;
    const size_t items = (size_t)c.nstages * (size_t)c.nbands;
    c.stages = (bc_chain_stage *)calloc((size_t)c.nstages, sizeof(bc_chain_stage));
    c.item_stage = (int *)malloc(items * sizeof(int));
    c.item_band = (int *)malloc(items * sizeof(int));
    c.done = (uint8_t *)calloc(items, 1);
    int rc = c.stages && c.item_stage && c.item_band && c.done ? 0 : -2;
    int k = 0;
    if (!rc && ch->entry) {
        c.stages[0].fn = bc_impls[bc_get_isa()].entry;
        c.stages[0].job.args = ch->entry;
        k = 1;
    }
    for (int u = 0; !rc && u < ch->n; u++) rc = bc_chain_unit_stage(ch->units + u, c.stages + k + u);
    if (!rc) {
        bc_chain_order(&c);
        bc_job job = {&c, 0};
        bc_parallel_chunk(bc_chain_items, &job, (int)items, nthreads, 1);
        for (k = 0; k < c.nstages; k++) rc |= c.stages[k].job.failed ? -2 : 0;
    }
    bc_chain_free(&c);
    return rc;
}
