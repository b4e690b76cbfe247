/// The thread pool of tessera_kernels.h: persistent workers that take chunks of a region with
/// an atomic counter, so that a worker the OS has descheduled delays only the chunk it holds.
///
/// One 64-bit word, `state`, holds the region's generation (high 32 bits) and the next chunk to
/// hand out (low 32 bits). A chunk is claimed by compare-and-swap of that word, never by a bare
/// fetch_add: a worker that read the word of an old region and was descheduled cannot take (or
/// skip) a chunk of a newer one, since the generation no longer matches (unless it stayed
/// descheduled for exactly 2^31 regions, minutes of back-to-back work: not guarded against).
/// Publishing a region takes two generation steps: an odd one closes the word while the
/// description (function, context, chunk count) is rewritten, the next even one opens it (a
/// seqlock: see `claim`).
///
/// Waiting (workers for a region, the caller for its end) spins on `pause` for `TK_POOL_SPIN_NS`, then
/// sleeps on a condition variable; who sleeps is counted so that nobody takes the mutex or makes
/// a system call while everyone is awake.
#define _GNU_SOURCE
#include "tessera_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/// How long a waiting thread spins before it sleeps: long enough that back-to-back regions
/// (a forward pass issues them microseconds apart) find the workers awake, short enough that a
/// waiter does not hold a CPU the thread it waits for needs. Measured on a 2-core VM (regions of
/// 2 and 8 chunks of 20 us, with and without one `yes` per core): 20, 50 and 80 us were alike
/// within the noise; 1 ms made regions slower (p90 1.2 ms for 8 chunks even without the `yes` load).
#ifndef TK_POOL_SPIN_NS
#define TK_POOL_SPIN_NS 80000
#endif

/// Chunks per published region: the chunk index has 32 bits of the state word (one below the
/// maximum, so that `index + 1` never carries into the generation). Bigger counts run as slices.
#define SLICE_CHUNKS ((int64_t)UINT32_MAX - 1)

struct tk_pool {
    int threads;
    pthread_t *workers;
    /// Serialises tk_pool_run: one region at a time, worker indices unique within it.
    pthread_mutex_t run_lock;

    /// Generation << 32 | next chunk. Odd generation: closed (being rewritten).
    _Atomic uint64_t state;
    /// The region's description, valid while the generation is even; atomics only because a
    /// stale worker may read them while they are rewritten (it then fails its claim).
    _Atomic(tk_chunk_fn) fn;
    _Atomic(void *) context;
    _Atomic int64_t chunks;
    _Atomic int64_t base;
    /// Chunks finished in the current region: the region ends when it reaches `chunks`.
    _Atomic int64_t done;
    _Atomic bool stop;

    /// Guards the two sleeps below (workers on `work`, the caller on `finished`).
    pthread_mutex_t mutex;
    pthread_cond_t work;
    pthread_cond_t finished;
    _Atomic int sleeping_workers;
    _Atomic bool caller_sleeping;
};

typedef struct {
    tk_pool *pool;
    int index;
} worker_start;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uint32_t generation(uint64_t state) { return (uint32_t)(state >> 32); }

/// Takes and runs chunks of the open region until none is left or the region is no longer the
/// open one. Returns the generation last seen, for the worker's wait.
static uint32_t claim(tk_pool *pool, int worker) {
    for (;;) {
        uint64_t state = atomic_load_explicit(&pool->state, memory_order_acquire);
        uint32_t gen = generation(state);
        if (gen & 1) return gen - 1;          /* closed: being rewritten, wait for it */
        /// Acquire loads of release stores (see run_slice): if any value here came from the
        /// next region's rewrite, the closing store happens before the CAS below, which then
        /// fails. So when the CAS succeeds, all four belong to generation `gen`.
        tk_chunk_fn fn = atomic_load_explicit(&pool->fn, memory_order_acquire);
        void *context = atomic_load_explicit(&pool->context, memory_order_acquire);
        int64_t chunks = atomic_load_explicit(&pool->chunks, memory_order_acquire);
        int64_t base = atomic_load_explicit(&pool->base, memory_order_acquire);
        int64_t index = (int64_t)(uint32_t)state;
        if (index >= chunks) return gen;
        if (!atomic_compare_exchange_weak_explicit(&pool->state, &state, state + 1,
                                                   memory_order_acquire, memory_order_relaxed)) {
            continue;
        }
        fn(context, base + index, worker);
        /// seq_cst: ordered against the load of `caller_sleeping` (the caller stores it before
        /// reading `done`), so either the caller sees the count or we see it asleep.
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_seq_cst) + 1 == chunks &&
            atomic_load_explicit(&pool->caller_sleeping, memory_order_seq_cst)) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
}

/// A region other than `seen` is open, or the pool stops.
static inline bool region_ready(tk_pool *pool, uint32_t seen) {
    uint32_t gen = generation(atomic_load_explicit(&pool->state, memory_order_seq_cst));
    return (gen & 1) == 0 && gen != seen;
}

static void wait_for_region(tk_pool *pool, uint32_t seen) {
    uint64_t deadline = now_ns() + TK_POOL_SPIN_NS;
    for (unsigned spins = 1;; spins++) {
        if (atomic_load_explicit(&pool->stop, memory_order_relaxed) || region_ready(pool, seen)) {
            return;
        }
        cpu_relax();
        if ((spins & 31) == 0 && now_ns() > deadline) break;
    }
    pthread_mutex_lock(&pool->mutex);
    /// Counted before the re-check (seq_cst both): tk_pool_run publishes, then reads the count.
    atomic_fetch_add_explicit(&pool->sleeping_workers, 1, memory_order_seq_cst);
    while (!atomic_load_explicit(&pool->stop, memory_order_seq_cst) && !region_ready(pool, seen)) {
        pthread_cond_wait(&pool->work, &pool->mutex);
    }
    atomic_fetch_sub_explicit(&pool->sleeping_workers, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&pool->mutex);
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    tk_pool *pool = start.pool;
    uint32_t seen = 0;                        /* generation 0: no region yet */
    for (;;) {
        wait_for_region(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) return NULL;
        seen = claim(pool, start.index);
    }
}

/// The caller's wait for the last chunk of its region (all of them claimed by now).
static void wait_for_end(tk_pool *pool, int64_t chunks) {
    uint64_t deadline = now_ns() + TK_POOL_SPIN_NS;
    for (unsigned spins = 1;; spins++) {
        if (atomic_load_explicit(&pool->done, memory_order_acquire) == chunks) return;
        cpu_relax();
        if ((spins & 31) == 0 && now_ns() > deadline) break;
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->caller_sleeping, true, memory_order_seq_cst);
    while (atomic_load_explicit(&pool->done, memory_order_seq_cst) != chunks) {
        pthread_cond_wait(&pool->finished, &pool->mutex);
    }
    atomic_store_explicit(&pool->caller_sleeping, false, memory_order_relaxed);
    pthread_mutex_unlock(&pool->mutex);
}

tk_pool *tk_pool_create(int threads) {
    if (threads < 1) threads = 1;
    tk_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    pool->workers = calloc((size_t)threads, sizeof *pool->workers);
    if (!pool->workers) { free(pool); return NULL; }
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->finished, NULL);
    atomic_init(&pool->state, 0);
    atomic_init(&pool->fn, NULL);
    atomic_init(&pool->context, NULL);
    atomic_init(&pool->chunks, 0);
    atomic_init(&pool->base, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->sleeping_workers, 0);
    atomic_init(&pool->caller_sleeping, false);
    for (int i = 1; i < threads; i++) {
        worker_start *start = malloc(sizeof *start);
        if (start) *start = (worker_start){pool, i};
        if (!start || pthread_create(&pool->workers[i], NULL, worker_main, start) != 0) {
            free(start);
            pool->threads = i;                /* tk_pool_destroy joins the i - 1 started */
            tk_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void tk_pool_destroy(tk_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->stop, true, memory_order_seq_cst);
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->threads; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->finished);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->mutex);
    pthread_mutex_destroy(&pool->run_lock);
    free(pool->workers);
    free(pool);
}

int tk_pool_threads(const tk_pool *pool) { return pool->threads; }

/// Publishes chunks `base ..< base + chunks` (at most SLICE_CHUNKS) and runs them to the end.
/// Called with `run_lock` held: nobody else writes the region.
static void run_slice(tk_pool *pool, int64_t base, int64_t chunks, tk_chunk_fn fn, void *context) {
    uint32_t gen = generation(atomic_load_explicit(&pool->state, memory_order_relaxed));
    /// Close (odd generation): from here no claim on the previous word can succeed.
    /// The description's stores are release stores so that a reader of any of them also sees
    /// the closing store (on x86 and arm64 these cost no more than plain stores).
    atomic_store_explicit(&pool->state, (uint64_t)(gen + 1) << 32, memory_order_relaxed);
    atomic_store_explicit(&pool->fn, fn, memory_order_release);
    atomic_store_explicit(&pool->context, context, memory_order_release);
    atomic_store_explicit(&pool->chunks, chunks, memory_order_release);
    atomic_store_explicit(&pool->base, base, memory_order_release);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    /// Open (even generation, chunk 0). seq_cst: ordered before the read of the sleepers' count.
    atomic_store_explicit(&pool->state, (uint64_t)(gen + 2) << 32, memory_order_seq_cst);
    int sleeping = atomic_load_explicit(&pool->sleeping_workers, memory_order_seq_cst);
    if (sleeping > 0) {
        /// Wake no more workers than there are chunks besides the caller's first.
        int64_t wake = chunks - 1 < sleeping ? chunks - 1 : sleeping;
        pthread_mutex_lock(&pool->mutex);
        for (int64_t i = 0; i < wake; i++) pthread_cond_signal(&pool->work);
        pthread_mutex_unlock(&pool->mutex);
    }
    claim(pool, 0);
    wait_for_end(pool, chunks);
}

void tk_pool_run(tk_pool *pool, int64_t chunks, tk_chunk_fn fn, void *context) {
    if (chunks <= 0) return;
    pthread_mutex_lock(&pool->run_lock);
    if (chunks == 1 || pool->threads == 1) {
        for (int64_t c = 0; c < chunks; c++) fn(context, c, 0);
    } else {
        for (int64_t base = 0; base < chunks; base += SLICE_CHUNKS) {
            int64_t left = chunks - base;
            run_slice(pool, base, left < SLICE_CHUNKS ? left : SLICE_CHUNKS, fn, context);
        }
    }
    pthread_mutex_unlock(&pool->run_lock);
}
