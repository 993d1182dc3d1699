/*
 * memory_report.c — the memory plan in numbers and as a picture.
 *
 * Both read only the graph (offsets, node order, shapes), so they describe
 * whatever plan the graph carries, and work on a graph parsed back from
 * its text form.
 *
 * The report is what `kiln compile --memory-report` and `kiln dump
 * --print-after plan-memory` show:
 *
 *     memory plan of 'resnet50': 122 steps, 175 tensors in the workspace
 *       workspace      6,422,528 bytes (6.12 MiB)
 *       lower bound    6,422,528 bytes (6.12 MiB)
 *       naive sum     ...
 *       workspace / lower bound 1.000
 *       reuse: 49 in place, 1 view, 0 concat slices, 0 split slices
 *
 * The SVG draws time (the execution step) left to right and the workspace
 * offset bottom to top; every tensor is a rectangle spanning its lifetime
 * and its bytes, with a tooltip naming it.  Views are dashed outlines over
 * the bytes they share.  A solid line marks the workspace size, a dashed
 * one the lower bound, so the wasted space is the gap between them.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "memory.h"

/* "1,234,567" */
static const char *grouped(int64_t x, char *buf, size_t size) {
  char raw[32];
  snprintf(raw, sizeof raw, "%lld", (long long)x);
  size_t n = strlen(raw), k = 0;
  for (size_t i = 0; i < n && k + 2 < size; i++) {
    if (i && raw[i - 1] != '-' && (n - i) % 3 == 0) buf[k++] = ',';
    buf[k++] = raw[i];
  }
  buf[k] = 0;
  return buf;
}

/* "6.12 MiB" */
static const char *human(int64_t x, char *buf, size_t size) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)x;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, size, "%lld B", (long long)x);
  else
    snprintf(buf, size, "%.2f %s", v, units[u]);
  return buf;
}

void ir_memory_report_prefixed(const ir_graph *g, FILE *out, const char *prefix) {
  ir_memory_stats st;
  if (!ir_memory_stats_compute(g, &st)) {
    fprintf(out, "%smemory plan of '%s': none (run plan-memory on a graph with static shapes)\n",
            prefix, g->name);
    return;
  }
  char a[32], b[32];
  fprintf(out, "%smemory plan of '%s': %d steps, %d tensors in the workspace\n", prefix, g->name,
          st.num_steps, st.num_tensors);
  fprintf(out, "%s  workspace    %15s bytes (%s)\n", prefix, grouped(st.workspace, a, sizeof a),
          human(st.workspace, b, sizeof b));
  fprintf(out, "%s  lower bound  %15s bytes (%s)\n", prefix, grouped(st.lower_bound, a, sizeof a),
          human(st.lower_bound, b, sizeof b));
  fprintf(out, "%s  naive sum    %15s bytes (%s)\n", prefix, grouped(st.naive, a, sizeof a),
          human(st.naive, b, sizeof b));
  if (st.lower_bound > 0)
    fprintf(out, "%s  workspace / lower bound %.3f\n", prefix,
            (double)st.workspace / (double)st.lower_bound);
  else
    fprintf(out, "%s  workspace / lower bound -\n", prefix);
  fprintf(out, "%s  reuse: %d in place, %d view%s, %d concat slice%s, %d split slice%s\n", prefix,
          st.in_place, st.views, st.views == 1 ? "" : "s", st.concat_slices,
          st.concat_slices == 1 ? "" : "s", st.split_slices, st.split_slices == 1 ? "" : "s");
}

void ir_memory_report(const ir_graph *g, FILE *out) { ir_memory_report_prefixed(g, out, ""); }

/* ---- SVG -------------------------------------------------------------------------- */
enum { SVG_W = 1200, SVG_H = 700, LEFT = 110, RIGHT = 40, TOP = 70, BOTTOM = 70 };

static void xml_text(FILE *out, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, out);
    }
  }
}

/* A round tick step (1, 2 or 5 times a power of ten) giving about `want`
 * ticks over [0, range]. */
static double nice_step(double range, int want) {
  if (range <= 0) return 1;
  double raw = range / want, p = pow(10, floor(log10(raw)));
  double f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* Node name of step s, or "end of run". */
static const char *step_name(const ir_graph *g, const ir_mem_live *lv, int32_t s) {
  return s < lv->num_steps ? g->nodes[lv->order[s]].name : "end of run";
}

void ir_memory_svg(const ir_graph *g, FILE *out) {
  ir_memory_stats st;
  bool planned = ir_memory_stats_compute(g, &st);
  ir_mem_live lv;
  ir_value_id bad;
  ir_mem_live_compute(g, NULL, 0, &lv, &bad);
  int64_t top = st.workspace > st.lower_bound ? st.workspace : st.lower_bound;
  if (top <= 0) top = IR_MEM_ALIGN;
  int32_t columns = lv.num_steps + 1;
  double pw = SVG_W - LEFT - RIGHT, ph = SVG_H - TOP - BOTTOM;
  double cw = pw / columns;
#define X(step) (LEFT + (step) * cw)
#define Y(bytes) (TOP + ph - (double)(bytes) / (double)top * ph)
  char a[32], b[32], c[32];

  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
          SVG_W, SVG_H, SVG_W, SVG_H);
  fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_W, SVG_H);
  fprintf(out, "<text x=\"%d\" y=\"24\" font-size=\"16\">memory plan of '", LEFT);
  xml_text(out, g->name);
  fprintf(out, "'</text>\n");
  if (planned) {
    fprintf(out,
            "<text x=\"%d\" y=\"44\">workspace %s, lower bound %s, naive sum %s; reuse: "
            "%d in place, %d view%s, %d concat slice%s, %d split slice%s</text>\n",
            LEFT, human(st.workspace, a, sizeof a), human(st.lower_bound, b, sizeof b),
            human(st.naive, c, sizeof c), st.in_place, st.views, st.views == 1 ? "" : "s",
            st.concat_slices, st.concat_slices == 1 ? "" : "s", st.split_slices,
            st.split_slices == 1 ? "" : "s");
  } else {
    fprintf(out, "<text x=\"%d\" y=\"44\">the graph has no memory plan</text>\n", LEFT);
  }

  /* grid and axes; offset ticks are round in the unit that suits the top */
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  double scale = 1;
  while (unit < 4 && (double)top / scale >= 4096) {
    scale *= 1024;
    unit++;
  }
  double ystep = nice_step((double)top / scale, 8);
  for (double v = 0; v * scale <= top + 0.5; v += ystep) {
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g %s</text>\n",
            LEFT, Y(v * scale), X(columns), Y(v * scale), LEFT - 6, Y(v * scale) + 4, v,
            units[unit]);
  }
  double xstep = ceil(nice_step(columns, 12));
  for (double s = 0; s < columns; s += xstep)
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
            X(s), Y(0), X(s), Y(0) + 5, X(s), Y(0) + 18, (int)s);
  fprintf(out,
          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n",
          LEFT, Y(0), X(columns), Y(0), LEFT, TOP, LEFT, Y(0));
  fprintf(out,
          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">execution step (node, in schedule "
          "order; the last column is the end of the run)</text>\n",
          LEFT + pw / 2, SVG_H - 24);
  fprintf(out,
          "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\">"
          "workspace offset (%s, as the ticks)</text>\n",
          TOP + ph / 2, units[unit]);

  /* one rectangle per tensor: own bytes filled, views dashed on top */
  for (int pass = 0; planned && pass < 2; pass++) {
    for (int32_t s = 0; s < lv.num_steps; s++) {
      const ir_node *nd = &g->nodes[lv.order[s]];
      for (int i = 0; i < nd->num_outputs; i++) {
        ir_value_id v = nd->outputs[i];
        if (v < 0 || lv.kind[v] == IR_MEM_NONE || lv.bytes[v] <= 0) continue;
        bool view = lv.kind[v] == IR_MEM_VIEW;
        if (view != (pass == 1)) continue;
        const ir_value *val = &g->values[v];
        double x0 = X(lv.def[v]), x1 = X(lv.last[v] + 1);
        double y0 = Y(val->offset + lv.bytes[v]), y1 = Y(val->offset);
        if (view)
          fprintf(out,
                  "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
                  "stroke=\"#333\" stroke-dasharray=\"4 2\">",
                  x0, y0, x1 - x0, y1 - y0);
        else
          fprintf(out,
                  "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                  "fill=\"hsl(%d,60%%,70%%)\" stroke=\"#333\" stroke-width=\"0.5\">",
                  x0, y0, x1 - x0, y1 - y0, (int)((v * 137) % 360));
        fputs("<title>", out);
        xml_text(out, val->name);
        fprintf(out, "\n%s bytes at offset %s\nlive steps %d..%d: ", grouped(lv.bytes[v], a, sizeof a),
                grouped(val->offset, b, sizeof b), lv.def[v], lv.last[v]);
        xml_text(out, step_name(g, &lv, lv.def[v]));
        fputs(" .. ", out);
        xml_text(out, step_name(g, &lv, lv.last[v]));
        if (view) {
          fputs("\nview of ", out);
          xml_text(out, g->values[lv.source[v]].name);
        }
        fputs("</title></rect>\n", out);
      }
    }
  }

  if (planned) {
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c00\" stroke-width=\"1.5\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c00\">workspace %s</text>\n",
            LEFT, Y(st.workspace), X(columns), Y(st.workspace), X(columns), Y(st.workspace) - 4,
            human(st.workspace, a, sizeof a));
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#00c\" "
            "stroke-dasharray=\"6 3\" stroke-width=\"1.5\"/>"
            "<text x=\"%d\" y=\"%.1f\" fill=\"#00c\">lower bound %s</text>\n",
            LEFT, Y(st.lower_bound), X(columns), Y(st.lower_bound), LEFT + 6,
            Y(st.lower_bound) + 14, human(st.lower_bound, a, sizeof a));
  }
  fputs("</svg>\n", out);
#undef X
#undef Y
  ir_mem_live_free(g, &lv);
}
