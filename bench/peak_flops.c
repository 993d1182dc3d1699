/*
 * peak_flops.c — the fp32 FLOP/s one core (or T cores) can reach at best,
 * the yardstick of bench/bench.py's "% of peak" column.
 *
 *   peak_flops THREADS [SECONDS]
 *
 * Each thread runs a loop of fused multiply-adds on ACC independent
 * accumulators held in registers, at the widest vector width the compiler
 * was told the host has (-march=native: AVX-512, else AVX2 with FMA, else
 * SSE with a separate multiply and add).  Nothing touches memory inside
 * the loop, so the loop runs at the FMA units' throughput as long as
 * there are at least latency x throughput chains in flight: 4 cycles x 2
 * FMA per cycle = 8 on current x86 cores; ACC = 12 leaves a margin and
 * still fits in 16 registers (the AVX2 register file), with the two
 * operands.  The loop is timed for about SECONDS (default 0.3) five times
 * and the best rate is printed, as "gflops G lanes L acc A threads T isa I".
 *
 * The accumulators converge (x = x * 0.999999 + 1e-6 stays near 1), so no
 * value overflows or turns denormal, and their sum is printed so the
 * compiler cannot drop the loop.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACC 12

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define ISA "avx512f"
#define SPLAT(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define HSUM(v) _mm512_reduce_add_ps(v)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define ISA "avx2+fma"
#define SPLAT(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float hsum(__m256 v) {
  float f[8];
  _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#define HSUM(v) hsum(v)
#else
typedef __m128 vec;
#define LANES 4
#define ISA "sse"
#define SPLAT(x) _mm_set1_ps(x)
/* No FMA unit: a multiply and an add are the two flops of one step. */
#define FMA(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
static float hsum(__m128 v) {
  float f[4];
  _mm_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3];
}
#define HSUM(v) hsum(v)
#endif

typedef struct {
  long iters;    /* loop trips, each ACC fused multiply-adds */
  float result;  /* the sum of the accumulators, printed */
} job;

static void *spin(void *arg) {
  job *j = arg;
  vec acc[ACC];
  for (int a = 0; a < ACC; a++) acc[a] = SPLAT(1.0f + (float)a * 1e-3f);
  /* volatile loads keep the multiplier and addend out of constant folding */
  volatile float mul = 0.999999f, add = 1e-6f;
  vec m = SPLAT(mul), c = SPLAT(add);
  for (long i = 0; i < j->iters; i++) {
    /* written out so each accumulator is its own dependency chain */
    acc[0] = FMA(acc[0], m, c);
    acc[1] = FMA(acc[1], m, c);
    acc[2] = FMA(acc[2], m, c);
    acc[3] = FMA(acc[3], m, c);
    acc[4] = FMA(acc[4], m, c);
    acc[5] = FMA(acc[5], m, c);
    acc[6] = FMA(acc[6], m, c);
    acc[7] = FMA(acc[7], m, c);
    acc[8] = FMA(acc[8], m, c);
    acc[9] = FMA(acc[9], m, c);
    acc[10] = FMA(acc[10], m, c);
    acc[11] = FMA(acc[11], m, c);
  }
  float s = 0;
  for (int a = 0; a < ACC; a++) s += HSUM(acc[a]);
  j->result = s;
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs `threads` copies of the loop at once; returns the wall time. */
static double timed(int threads, long iters, float *sink) {
  pthread_t tid[64];
  job jobs[64];
  double t0 = now();
  for (int t = 0; t < threads; t++) {
    jobs[t].iters = iters;
    if (pthread_create(&tid[t], NULL, spin, &jobs[t])) {
      perror("pthread_create");
      exit(1);
    }
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    *sink += jobs[t].result;
  }
  return now() - t0;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 0.3;
  if (threads < 1 || threads > 64 || !(seconds > 0)) {
    fprintf(stderr, "usage: %s THREADS [SECONDS]\n", argv[0]);
    return 2;
  }
  float sink = 0;
  /* calibrate: grow the trip count until one run takes a tenth of the goal */
  long iters = 1 << 16;
  double t;
  while ((t = timed(1, iters, &sink)) < seconds / 10) iters *= 2;
  iters = (long)((double)iters * seconds / t);
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    double dt = timed(threads, iters, &sink);
    double flops = 2.0 * LANES * ACC * (double)iters * threads;
    if (flops / dt > best) best = flops / dt;
  }
  printf("gflops %.2f lanes %d acc %d threads %d isa %s\n", best * 1e-9, LANES, ACC, threads,
         ISA);
  /* the sink is never NaN; printing it to stderr only keeps it alive */
  if (sink != sink) fprintf(stderr, "sink %g\n", (double)sink);
  return 0;
}
