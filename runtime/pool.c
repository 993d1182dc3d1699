/*
 * pool.c — the thread pool behind rt_parallel_for.
 *
 * Design, in the order of what matters:
 *
 * 1. Determinism.  A job is [0, n) cut into `chunks` contiguous ranges,
 *    chunk c being [n*c/chunks, n*(c+1)/chunks).  Generated code makes the
 *    items independent (no reduction spans two items), so which thread runs
 *    which chunk, and how many chunks there are, cannot change a single bit
 *    of the result.  Threads claim chunks one at a time, which balances
 *    load without affecting results: the caller from the front of [0,
 *    chunks), the workers from the back, with one atomic (lo, hi) pair.
 *    So a thread's chunks are contiguous, and consecutive kernels cut the
 *    same way (rows of a plane, columns of a GEMM, ranges of an
 *    elementwise op) give each thread the same part of the data: what one
 *    kernel wrote is in that core's cache when the next reads it.  Against
 *    one shared counter (chunks dealt out in turn), GPT d768 ran 15%,
 *    MobileNetV2 13% and ResNet-50 about 5% faster at two threads, with
 *    the direct convolutions' items ordered rows first (kiln bench,
 *    alternated, 2026-12-03).
 *
 * 2. No allocation inside a run.  The pool is created lazily, once, by the
 *    first parallel run (pthread_once); that is the only allocation and the
 *    pool is the only mutable global of a kiln library.  Its size is the
 *    number of online cores minus one (the calling thread works too).
 *    Workers live as long as the process.
 *
 * 3. Never block on the pool.  One job runs at a time: a caller that finds
 *    the pool busy (another thread running another model, or a task of the
 *    current job calling back in) runs its job serially instead.  That keeps
 *    two concurrent runs with two workspaces safe and deadlock-free.
 *
 * The hand-off uses one mutex and two condition variables: `wake` tells
 * workers a new job generation exists, `done` tells the caller the last
 * chunk finished and no worker still touches the job.  A worker that
 * finishes a job first spins for up to RT_SPIN_NS on the published
 * generation before it sleeps on `wake`: a network's nodes follow each
 * other within microseconds, and waking a sleeping thread costs tens of
 * them (per node, that was several percent of a ResNet at two threads).
 * The caller, done with its own chunks, likewise spins (as long, at most)
 * until the workers' chunks are done before it sleeps on `done`: it
 * usually waits microseconds for a worker's last chunk, and being woken
 * from a futex sleep costs more than that, much more on a virtual machine
 * whose idle vCPU must be woken through the hypervisor (measured: a
 * GPT d256 run at two threads went between 2 and 6 ms with the state of
 * the idle vCPU; a small transformer has about a hundred such joins).
 * The spin is bounded, so an idle library costs nothing.  Jobs are cut
 * into up to RT_CHUNKS_PER_THREAD chunks per thread, claimed in turn, so
 * uneven items (a last, partial tile) even out across threads.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

enum { RT_CHUNKS_PER_THREAD = 4 };
#define RT_SPIN_NS 200000 /* 0.2 ms */

typedef struct rt_pool {
  pthread_mutex_t submit;  /* held by the caller for a whole job */
  pthread_mutex_t mu;      /* guards the job fields below */
  pthread_cond_t wake;     /* a new generation was posted */
  pthread_cond_t done;     /* chunks_done == chunks and active == 0 */
  int num_workers;         /* threads started (cores - 1, may be 0) */
  uint64_t generation;     /* bumped for every job */
  rt_task_fn fn;           /* current job, NULL when none */
  void *env;
  int64_t n;
  int chunks;
  int seats;               /* workers still allowed to join this job */
  int active;              /* workers inside the job */
  int chunks_done;
  _Atomic uint64_t unclaimed; /* chunks [lo, hi) not yet claimed: lo << 32 | hi */
  atomic_int unfinished;   /* chunks not yet run, plus workers inside the job:
                            * what the caller spins on before it sleeps */
  atomic_uint_fast64_t posted; /* `generation`, readable without the mutex */
} rt_pool;

static rt_pool *the_pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return 1;
  return n > RT_MAX_THREADS ? RT_MAX_THREADS : (int)n;
}

/* The next unclaimed chunk, from the front (the caller) or the back (a
 * worker); -1 when none is left. */
static int claim(rt_pool *p, bool back) {
  uint64_t cur = atomic_load_explicit(&p->unclaimed, memory_order_relaxed);
  for (;;) {
    uint32_t lo = (uint32_t)(cur >> 32), hi = (uint32_t)cur;
    if (lo >= hi) return -1;
    uint64_t next = back ? ((uint64_t)lo << 32) | (hi - 1) : ((uint64_t)(lo + 1) << 32) | hi;
    if (atomic_compare_exchange_weak_explicit(&p->unclaimed, &cur, next, memory_order_relaxed,
                                              memory_order_relaxed))
      return back ? (int)(hi - 1) : (int)lo;
  }
}

/* Claims and runs chunks until none is left; returns how many it ran. */
static int run_chunks(rt_pool *p, rt_task_fn fn, void *env, int64_t n, int chunks, bool back) {
  int ran = 0;
  for (;;) {
    int c = claim(p, back);
    if (c < 0) return ran;
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    fn(env, b, e);
    ran++;
  }
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until a generation after `seen` is posted or RT_SPIN_NS pass. */
static void spin_for_job(rt_pool *p, uint64_t seen) {
  int64_t start = now_ns();
  for (int i = 1;; i++) {
    if (atomic_load_explicit(&p->posted, memory_order_acquire) != seen) return;
    cpu_relax();
    if (i % 64 == 0 && now_ns() - start > RT_SPIN_NS) return;
  }
}

static void *worker_main(void *arg) {
  rt_pool *p = arg;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->generation == seen) {
      pthread_mutex_unlock(&p->mu);
      spin_for_job(p, seen);
      pthread_mutex_lock(&p->mu);
    }
    while (p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
    seen = p->generation;
    if (!p->fn || p->seats == 0) continue;
    p->seats--;
    p->active++;
    atomic_fetch_add_explicit(&p->unfinished, 1, memory_order_relaxed);
    rt_task_fn fn = p->fn;
    void *env = p->env;
    int64_t n = p->n;
    int chunks = p->chunks;
    pthread_mutex_unlock(&p->mu);
    int ran = run_chunks(p, fn, env, n, chunks, true);
    pthread_mutex_lock(&p->mu);
    p->chunks_done += ran;
    p->active--;
    /* after this the caller may end the job: env is not touched again */
    atomic_fetch_sub_explicit(&p->unfinished, ran + 1, memory_order_release);
    if (p->active == 0 && p->chunks_done == p->chunks) pthread_cond_signal(&p->done);
  }
  return NULL;
}

static void pool_create(void) {
  rt_pool *p = calloc(1, sizeof *p);
  if (!p) return; /* the_pool stays NULL: every job runs serially */
  pthread_mutex_init(&p->submit, NULL);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  int want = online_cores() - 1;
  for (int i = 0; i < want; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker_main, p) != 0) break;
    pthread_detach(t);
    p->num_workers++;
  }
  the_pool = p;
}

int rt_resolve_threads(const kiln_run_options *opt, int baked) {
  int n = opt ? opt->num_threads : 0;
  if (n <= 0) {
    const char *env = getenv("KILN_NUM_THREADS");
    n = env ? atoi(env) : 0;
  }
  if (n <= 0) n = baked;
  if (n <= 0) n = online_cores();
  return n > RT_MAX_THREADS ? RT_MAX_THREADS : n;
}

void rt_parallel_for(const kiln_run_options *opt, int64_t n, rt_task_fn fn, void *env) {
  if (n <= 0) return;
  int threads = opt && opt->num_threads > 0 ? opt->num_threads : rt_resolve_threads(opt, 0);
  if (threads > RT_MAX_THREADS) threads = RT_MAX_THREADS;
  int64_t most = (int64_t)threads * RT_CHUNKS_PER_THREAD;
  int chunks = threads <= 1 ? 1 : n < most ? (int)n : (int)most;
  if (chunks <= 1) {
    fn(env, 0, n);
    return;
  }
  pthread_once(&pool_once, pool_create);
  rt_pool *p = the_pool;
  if (!p || p->num_workers == 0 || pthread_mutex_trylock(&p->submit) != 0) {
    fn(env, 0, n); /* no pool, or busy: the same items, one thread */
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->env = env;
  p->n = n;
  p->chunks = chunks;
  p->seats = threads - 1 < p->num_workers ? threads - 1 : p->num_workers;
  if (p->seats > chunks - 1) p->seats = chunks - 1;
  p->chunks_done = 0;
  atomic_store_explicit(&p->unclaimed, (uint64_t)chunks, memory_order_relaxed);
  atomic_store_explicit(&p->unfinished, chunks, memory_order_relaxed);
  p->generation++;
  atomic_store_explicit(&p->posted, p->generation, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);

  int ran = run_chunks(p, fn, env, n, chunks, false);
  /* the workers' last chunks: spin (bounded) before sleeping on `done` */
  if (atomic_fetch_sub_explicit(&p->unfinished, ran, memory_order_acq_rel) != ran) {
    int64_t start = now_ns();
    for (int i = 1; atomic_load_explicit(&p->unfinished, memory_order_acquire) > 0; i++) {
      cpu_relax();
      if (i % 64 == 0 && now_ns() - start > RT_SPIN_NS) break;
    }
  }

  pthread_mutex_lock(&p->mu);
  p->chunks_done += ran;
  while (p->active > 0 || p->chunks_done < p->chunks) pthread_cond_wait(&p->done, &p->mu);
  p->fn = NULL;
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&p->submit);
}
