/*
 * schedule.c — the default schedule policy, and the schedule's text form.
 *
 * The policy is analytical, in the manner of BLIS's per-CPU block tables
 * but computed from the target description instead of written per CPU:
 *
 *   register block  The micro-kernel keeps mr x (nr / lanes) accumulator
 *                   vectors, loads nr / lanes vectors of B and broadcasts
 *                   mr elements of A per step of k.  Among the blocks
 *                   whose accumulators, B vectors and one broadcast fit
 *                   the vector registers, pick the one with the most FMAs
 *                   per load, discounted by the padding it wastes on the
 *                   edges of this particular M and N (a 7x7 feature map
 *                   has N = 49: a 64-wide block computes 15 columns of
 *                   nothing).
 *   kc              K is cut into blocks of at most ~256 so the B
 *                   micro-panel (kc x nr) stays in L1 while the mr-row
 *                   tiles sweep it; the blocks are made even in size.
 *   mc, nc          Each parallel item is an mc x nc block of C: large
 *                   enough that A's block stays in L2 and per-item
 *                   overhead vanishes, small enough that there are a few
 *                   items per thread (8 at least when the shape allows)
 *                   so two cores, or four, share the work evenly.
 *
 * None of this is needed for correctness, and none of it changes a
 * result across thread counts; `kiln tune` searches the same fields.
 */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

/* Useful work per computed element when [extent] is covered by blocks of b. */
static double coverage(int64_t extent, int64_t b) {
  return extent <= 0 ? 1.0 : (double)extent / (double)round_up(extent, b);
}

void cg_schedule_default(const cg_target_caps *caps, const cg_gemm_shape *sh, cg_schedule *out) {
  cg_schedule s = {.unroll = 1, .par = CG_PAR_MN};
  /* lanes: at least 4, so scalar-FP targets still get a register block
   * LLVM legalizes into independent scalar FMA chains */
  s.lanes = caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4;
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  if (caps->vector_bits < 128) regs = regs / 4; /* each "vector" takes 4 scalar registers */
  double best = -1;
  for (int nv = 1; nv <= 4; nv++)
    for (int mr = 1; mr <= 16; mr++) {
      int acc = mr * nv;
      if (acc + nv + 1 > regs - 1 || acc > 28) continue; /* one register of slack */
      double per_load = (double)acc / (double)(mr + nv);
      double score = per_load * coverage(sh->M, mr) * coverage(sh->N, (int64_t)nv * s.lanes);
      if (score > best + 1e-9) {
        best = score;
        s.mr = mr;
        s.nr = nv * s.lanes;
      }
    }
  /* kc: even blocks of at most 256 */
  int64_t nk = ceil_div(sh->K, 256);
  s.kc = nk > 0 ? ceil_div(sh->K, nk) : 1;
  if (s.kc < 1) s.kc = 1;

  if (sh->b_runtime_pack) {
    /* the gathered B block is reused by every row of A: items are N blocks */
    s.par = CG_PAR_N;
    s.mc = round_up(sh->M, s.mr);
    int64_t want_items = 8;
    s.nc = round_up(ceil_div(sh->N, want_items), s.nr);
    if (s.nc > 256) s.nc = round_up(256, s.nr);
    /* A small feature map (7x7, 14x14) has too few column blocks to keep
     * two cores busy: split the rows too.  Each row block gathers its own
     * copy of the columns, which costs about lanes / M of the block's
     * FMAs, so split only as far as needed for a few items. */
    int64_t items = sh->batch * ceil_div(sh->N, s.nc);
    if (items < 4 && sh->M >= 4 * s.mr) {
      int64_t mb = ceil_div(4, items);
      s.mc = round_up(ceil_div(sh->M, mb), s.mr);
      s.par = CG_PAR_MN;
    }
  } else {
    s.mc = round_up(sh->M < 192 ? sh->M : 192, s.mr);
    s.nc = round_up(sh->N < 512 ? sh->N : 512, s.nr);
    /* split further until there are a few items per thread */
    while (sh->batch * ceil_div(sh->M, s.mc) * ceil_div(sh->N, s.nc) < 8) {
      if (s.nc > s.nr && (s.nc >= s.mc || s.mc <= s.mr))
        s.nc = round_up(s.nc / 2, s.nr);
      else if (s.mc > s.mr)
        s.mc = round_up(s.mc / 2, s.mr);
      else
        break;
    }
  }
  if (s.mc < s.mr) s.mc = s.mr;
  if (s.nc < s.nr) s.nc = s.nr;
  *out = s;
}

const char *cg_schedule_check(const cg_target_caps *caps, const cg_schedule *s) {
  if (s->lanes < 1 || s->lanes > 64) return "lanes must be in 1..64";
  if (s->mr < 1 || s->nr < 1) return "mr and nr must be positive";
  if (s->nr % s->lanes) return "nr must be a multiple of lanes";
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  if (s->mr * (s->nr / s->lanes) > 4 * regs) return "register block far larger than the registers";
  /* the limits of kernels/gemm.c's accumulator arrays, checked here too so
   * --tuning and kiln tune refuse such a block before code generation */
  if (s->mr > 16 || s->nr / s->lanes > 8 || s->mr * (s->nr / s->lanes) > 64)
    return "register block larger than the generator handles (mr <= 16, nr/lanes <= 8)";
  if (s->kc < 1) return "kc must be positive";
  if (s->mc < s->mr || s->mc % s->mr) return "mc must be a positive multiple of mr";
  if (s->nc < s->nr || s->nc % s->nr) return "nc must be a positive multiple of nr";
  if (s->unroll < 1 || s->unroll > 16) return "unroll must be in 1..16";
  if (s->par < CG_PAR_MN || s->par > CG_PAR_NONE) return "par must be mn, n or none";
  return NULL;
}

static const char *const par_names[] = {"mn", "n", "none"};

char *cg_schedule_format(const cg_schedule *s, char *buf, size_t size) {
  snprintf(buf, size, "mr=%d nr=%d kc=%lld mc=%lld nc=%lld lanes=%d unroll=%d par=%s%s", s->mr,
           s->nr, (long long)s->kc, (long long)s->mc, (long long)s->nc, s->lanes, s->unroll,
           par_names[s->par], s->conv == CG_CONV_DIRECT      ? " conv=direct"
                              : s->conv == CG_CONV_DEPTHWISE ? " conv=depthwise"
                                                             : "");
  return buf;
}

bool cg_schedule_parse(const char *text, cg_schedule *out) {
  cg_schedule s = *out;
  const char *p = text;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    size_t klen = strcspn(p, "=");
    if (!p[klen]) return false;
    const char *v = p + klen + 1;
    size_t vlen = strcspn(v, " ,");
    char key[16], val[32];
    if (klen >= sizeof key || vlen >= sizeof val || vlen == 0) return false;
    memcpy(key, p, klen);
    key[klen] = 0;
    memcpy(val, v, vlen);
    val[vlen] = 0;
    p = v + vlen;
    if (!strcmp(key, "par")) {
      int i = 0;
      while (i < 3 && strcmp(val, par_names[i])) i++;
      if (i == 3) return false;
      s.par = (cg_par)i;
      continue;
    }
    if (!strcmp(key, "conv")) {
      if (!strcmp(val, "gemm")) s.conv = CG_CONV_GEMM;
      else if (!strcmp(val, "direct")) s.conv = CG_CONV_DIRECT;
      else if (!strcmp(val, "depthwise")) s.conv = CG_CONV_DEPTHWISE;
      else return false;
      continue;
    }
    char *end;
    long long x = strtoll(val, &end, 10);
    if (*end || x < 1 || x > (1LL << 30)) return false;
    if (!strcmp(key, "mr")) s.mr = (int)x;
    else if (!strcmp(key, "nr")) s.nr = (int)x;
    else if (!strcmp(key, "kc")) s.kc = x;
    else if (!strcmp(key, "mc")) s.mc = x;
    else if (!strcmp(key, "nc")) s.nc = x;
    else if (!strcmp(key, "lanes")) s.lanes = (int)x;
    else if (!strcmp(key, "unroll")) s.unroll = (int)x;
    else return false;
  }
  *out = s;
  return true;
}
