/*
 * A persistent pthread pool: bc_parallel(fn, job, rows, n) runs fn over all rows on n threads
 * (the caller is one of them), which claim chunks of rows. Callers are serialised; the pool is
 * rebuilt after fork().
 * Without pthreads (Windows builds) everything runs on the calling thread.
 */
#if defined(_WIN32)

static void bc_parallel_chunk(bc_rows_fn fn, void *job, int rows, int nthreads, int chunk)
{
    (void)nthreads;
    (void)chunk;
    fn(job, 0, rows);
}

static void bc_parallel(bc_rows_fn fn, void *job, int rows, int nthreads) { bc_parallel_chunk(fn, job, rows, nthreads, 0); }

#else
#include <pthread.h>
#include <sched.h>

#define BC_MAX_THREADS 64

typedef struct bc_pool {
    pthread_mutex_t call_mu, mu;
    pthread_cond_t go, done;
    int nworkers, parts, rows, chunk, pending;
    int next_row; /* atomic: first row not yet claimed */
    unsigned long gen;
    bc_rows_fn fn;
    void *job;
} bc_pool;

static bc_pool g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, NULL, NULL};
static unsigned long g_worker_gen0[BC_MAX_THREADS];

/* Claim chunks of rows until none are left: a thread that was descheduled (shared machine) or
 * got cheaper rows simply takes fewer chunks. Row results do not depend on the thread. */
static void bc_run_chunks(bc_rows_fn fn, void *job, int rows, int chunk)
{
    for (;;) {
        const int r0 = __atomic_fetch_add(&g_pool.next_row, chunk, __ATOMIC_RELAXED);
        if (r0 >= rows) return;
        fn(job, r0, r0 + chunk < rows ? r0 + chunk : rows);
    }
}

static void *bc_worker(void *arg)
{
    const int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&g_pool.mu);
    unsigned long seen = g_worker_gen0[id];
    for (;;) {
        while (g_pool.gen == seen) pthread_cond_wait(&g_pool.go, &g_pool.mu);
        seen = g_pool.gen;
        if (id >= g_pool.parts) continue;
        bc_rows_fn fn = g_pool.fn;
        void *job = g_pool.job;
        const int rows = g_pool.rows, chunk = g_pool.chunk;
        pthread_mutex_unlock(&g_pool.mu);
        bc_run_chunks(fn, job, rows, chunk);
        pthread_mutex_lock(&g_pool.mu);
        if (--g_pool.pending == 0) pthread_cond_signal(&g_pool.done);
    }
    return NULL;
}

static void bc_fork_prepare(void) { pthread_mutex_lock(&g_pool.call_mu); }
static void bc_fork_parent(void) { pthread_mutex_unlock(&g_pool.call_mu); }

static void bc_fork_child(void)
{ /* worker threads do not survive fork(): start over */
    pthread_mutex_init(&g_pool.call_mu, NULL);
    pthread_mutex_init(&g_pool.mu, NULL);
    pthread_cond_init(&g_pool.go, NULL);
    pthread_cond_init(&g_pool.done, NULL);
    g_pool.nworkers = 0;
}

static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;
static void bc_pool_init(void) { pthread_atfork(bc_fork_prepare, bc_fork_parent, bc_fork_child); }

/* Start workers 1..n-1 (call_mu held); returns how many threads can run. */
static int bc_pool_grow(int n)
{
    while (g_pool.nworkers < n - 1) {
        const int id = g_pool.nworkers + 1;
        pthread_t th;
        pthread_attr_t attr;
        pthread_mutex_lock(&g_pool.mu);
        g_worker_gen0[id] = g_pool.gen;
        pthread_mutex_unlock(&g_pool.mu);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&th, &attr, bc_worker, (void *)(intptr_t)id);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        g_pool.nworkers = id;
    }
    return g_pool.nworkers + 1 < n ? g_pool.nworkers + 1 : n;
}

/* fn over rows [0, rows) in chunks of `chunk` rows claimed in ascending order (0: about four
 * chunks per thread). */
static void bc_parallel_chunk(bc_rows_fn fn, void *job, int rows, int nthreads, int chunk)
{
    if (nthreads > rows) nthreads = rows;
    if (nthreads > BC_MAX_THREADS) nthreads = BC_MAX_THREADS;
    if (nthreads <= 1) {
        fn(job, 0, rows);
        return;
    }
    pthread_once(&g_pool_once, bc_pool_init);
    pthread_mutex_lock(&g_pool.call_mu);
    const int parts = bc_pool_grow(nthreads);
    pthread_mutex_lock(&g_pool.mu);
    g_pool.fn = fn;
    g_pool.job = job;
    g_pool.rows = rows;
    g_pool.parts = parts;
    g_pool.chunk = chunk > 0 ? chunk : rows / (4 * parts) > 1 ? rows / (4 * parts) : 1;
    g_pool.next_row = 0;
    g_pool.pending = parts - 1;
    g_pool.gen++;
    pthread_cond_broadcast(&g_pool.go);
    pthread_mutex_unlock(&g_pool.mu);
    bc_run_chunks(fn, job, rows, g_pool.chunk);
    pthread_mutex_lock(&g_pool.mu);
    while (g_pool.pending > 0) pthread_cond_wait(&g_pool.done, &g_pool.mu);
    pthread_mutex_unlock(&g_pool.mu);
    pthread_mutex_unlock(&g_pool.call_mu);
}

static void bc_parallel(bc_rows_fn fn, void *job, int rows, int nthreads) { bc_parallel_chunk(fn, job, rows, nthreads, 0); }
#endif
