/* pv_shape.c - load shapes (piecewise-linear targets) and open-model arrival times. */
#include "engine/pv_shape.h"

#include <assert.h>
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PV_SHAPE_MAX_STAGES   1000
#define PV_SHAPE_MAX_DURATION (30.0 * 86400.0)  /* 30 days, in seconds */
#define PV_SHAPE_ERR_TEXT     60                /* at most this much of a stage in a message */
#define PV_SHAPE_NUMBER_CHARS "0123456789.eE+-" /* no hex, inf or nan from strtod */

/*
 * Stage i runs from t0[i] to t0[i + 1] = t0[i] + st[i].duration_s, its
 * target moving from v0[i] to v0[i + 1] = st[i].target (v0[0] = start);
 * cum[i] is the integral of the target from 0 to t0[i]. The three arrays
 * have n + 1 entries: t0[n] is the duration, cum[n] the whole integral.
 * A stage of duration 0 has t0[i] == t0[i + 1] and adds nothing to cum.
 */
struct pv_shape {
    double start;
    double duration;
    double max;
    int n;
    struct pv_stage *st;
    double *t0;
    double *v0;
    double *cum;
};

/* ---- creation --------------------------------------------------------- */

/* One stage's values; text (the stage as written, may be NULL) goes into the message. */
static int check_stage(int i, const struct pv_stage *st, const char *text, int len, pv_err *err)
{
    const char *why = NULL;
    if (!isfinite(st->duration_s))
        why = "duration out of range";
    else if (st->duration_s < 0)
        why = "negative duration";
    else if (st->duration_s > PV_SHAPE_MAX_DURATION)
        why = "duration above 30 days";
    else if (!isfinite(st->target))
        why = "target out of range";
    else if (st->target < 0)
        why = "negative target";
    if (!why)
        return 0;
    if (text)
        return pv_err_set(err, VOLLEY_EINVAL, "stage %d ('%.*s'): %s", i + 1, len, text, why);
    return pv_err_set(err, VOLLEY_EINVAL, "stage %d: %s", i + 1, why);
}

int pv_shape_create(double start, const struct pv_stage *stages, int nstages, pv_shape **out,
                    pv_err *err)
{
    *out = NULL;
    if (nstages < 1)
        return pv_err_set(err, VOLLEY_EINVAL, "no stages");
    if (nstages > PV_SHAPE_MAX_STAGES)
        return pv_err_set(err, VOLLEY_EINVAL, "%d stages (at most %d)", nstages,
                          PV_SHAPE_MAX_STAGES);
    if (!isfinite(start) || start < 0)
        return pv_err_set(err, VOLLEY_EINVAL, "start value %g is not a number >= 0", start);
    double total = 0;
    for (int i = 0; i < nstages; i++) {
        int rc = check_stage(i, &stages[i], NULL, 0, err);
        if (rc != 0)
            return rc;
        total += stages[i].duration_s;
    }
    if (total <= 0)
        return pv_err_set(err, VOLLEY_EINVAL, "total duration is 0 (no stage has a duration)");
    if (total > PV_SHAPE_MAX_DURATION)
        return pv_err_set(err, VOLLEY_EINVAL, "total duration %.0f s is above 30 days", total);

    pv_shape *s = calloc(1, sizeof(*s));
    if (!s)
        return VOLLEY_ENOMEM;
    s->st = malloc((size_t)nstages * sizeof(*s->st));
    s->t0 = malloc(3 * (size_t)(nstages + 1) * sizeof(double));
    if (!s->st || !s->t0) {
        pv_shape_destroy(s);
        return VOLLEY_ENOMEM;
    }
    memcpy(s->st, stages, (size_t)nstages * sizeof(*s->st));
    s->n = nstages;
    s->v0 = s->t0 + (nstages + 1);
    s->cum = s->v0 + (nstages + 1);
    s->start = start;
    s->max = start;
    s->t0[0] = 0;
    s->v0[0] = start;
    s->cum[0] = 0;
    for (int i = 0; i < nstages; i++) {
        double d = stages[i].duration_s;
        s->t0[i + 1] = s->t0[i] + d;
        s->v0[i + 1] = stages[i].target;
        s->cum[i + 1] = s->cum[i] + d * 0.5 * (s->v0[i] + s->v0[i + 1]);
        if (stages[i].target > s->max)
            s->max = stages[i].target;
    }
    s->duration = s->t0[nstages];
    *out = s;
    return 0;
}

void pv_shape_destroy(pv_shape *s)
{
    if (!s)
        return;
    free(s->st);
    free(s->t0); /* v0 and cum live in the same block */
    free(s);
}

/* ---- parsing ---------------------------------------------------------- */

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

static const char *trim_end(const char *p, const char *end)
{
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    return end;
}

/*
 * A number over all of [p, end) but an optional unit after it, which goes to
 * *unit (NULL: no unit allowed). strtod alone would take "0x10", "inf",
 * "nan" and stop at the item's end only by luck, hence the checks.
 * @return false when [p, end) does not start with a plain decimal number.
 */
static bool parse_number(const char *p, const char *end, double *v, const char **unit)
{
    if (p == end)
        return false;
    char *stop = NULL;
    *v = strtod(p, &stop);
    if (stop == p || stop > end)
        return false;
    for (const char *q = p; q < stop; q++)
        if (!strchr(PV_SHAPE_NUMBER_CHARS, *q))
            return false;
    *unit = skip_space(stop, end);
    return true;
}

/* Seconds per unit of [u, end), 0 when the unit is unknown. */
static double unit_seconds(const char *u, const char *end)
{
    static const struct {
        const char *name;
        double seconds;
    } units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
    size_t len = (size_t)(end - u);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, u, len) == 0)
            return units[i].seconds;
    return 0;
}

/* "stage N ('TEXT'): why", TEXT cut at PV_SHAPE_ERR_TEXT characters. */
static int stage_err(pv_err *err, int i, const char *p, const char *end, const char *fmt, ...)
    PV_PRINTF(5, 6);
static int stage_err(pv_err *err, int i, const char *p, const char *end, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    int len = (int)(end - p) < PV_SHAPE_ERR_TEXT ? (int)(end - p) : PV_SHAPE_ERR_TEXT;
    return pv_err_set(err, VOLLEY_EINVAL, "stage %d ('%.*s'): %s", i + 1, len, p, why);
}

/* One item "DURATION:TARGET" in [p, end), already trimmed; i counts from 0. */
static int parse_stage(int i, const char *p, const char *end, double max_target,
                       struct pv_stage *st, pv_err *err)
{
    if (p == end)
        return stage_err(err, i, p, end, "empty stage (expected DURATION:TARGET, e.g. 30s:100)");
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        return stage_err(err, i, p, end, "expected DURATION:TARGET, e.g. 30s:100");
    const char *dend = trim_end(p, colon);
    const char *tp = skip_space(colon + 1, end);

    const char *unit = NULL;
    if (!parse_number(p, dend, &st->duration_s, &unit))
        return stage_err(err, i, p, end, "invalid duration '%.*s'", (int)(dend - p), p);
    double per = unit_seconds(unit, dend);
    if (per == 0)
        return stage_err(err, i, p, end, "unknown unit '%.*s' (use ms, s, m or h)",
                         (int)(dend - unit), unit);
    st->duration_s *= per;
    if (!parse_number(tp, end, &st->target, &unit) || unit != end)
        return stage_err(err, i, p, end, "invalid target '%.*s'", (int)(end - tp), tp);

    int len = (int)(end - p) < PV_SHAPE_ERR_TEXT ? (int)(end - p) : PV_SHAPE_ERR_TEXT;
    int rc = check_stage(i, st, p, len, err);
    if (rc != 0)
        return rc;
    if (st->target > max_target)
        return stage_err(err, i, p, end, "target %g above the maximum %g", st->target, max_target);
    return 0;
}

int pv_shape_parse(const char *spec, double start, double max_target, pv_shape **out, pv_err *err)
{
    *out = NULL;
    const char *end = spec ? spec + strlen(spec) : NULL;
    if (!spec || skip_space(spec, end) == end)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "no stages (expected DURATION:TARGET,..., e.g. 30s:100,2m:100,30s:0)");
    int n = 1;
    for (const char *q = spec; *q; q++) {
        /* the spec is ASCII: nothing else may reach a message */
        if ((*q < 0x20 && *q != '\t') || *q > 0x7e)
            return pv_err_set(err, VOLLEY_EINVAL,
                              "character %d of the stages is not printable ASCII (byte 0x%02x)",
                              (int)(q - spec) + 1, (unsigned)(unsigned char)*q);
        n += *q == ',';
    }
    if (n > PV_SHAPE_MAX_STAGES)
        return pv_err_set(err, VOLLEY_EINVAL, "%d stages (at most %d)", n, PV_SHAPE_MAX_STAGES);
    if (!isfinite(start) || start < 0 || start > max_target)
        return pv_err_set(err, VOLLEY_EINVAL, "start value %g is not in [0, %g]", start,
                          max_target);
    struct pv_stage *st = malloc((size_t)n * sizeof(*st));
    if (!st)
        return VOLLEY_ENOMEM;
    const char *p = spec;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *comma = strchr(p, ',');
        const char *iend = comma ? comma : end;
        const char *b = skip_space(p, iend);
        rc = parse_stage(i, b, trim_end(b, iend), max_target, &st[i], err);
        p = iend + 1;
    }
    if (rc == 0)
        rc = pv_shape_create(start, st, n, out, err);
    free(st);
    return rc;
}

/* ---- accessors -------------------------------------------------------- */

double pv_shape_duration(const pv_shape *s)
{
    return s->duration;
}

double pv_shape_max(const pv_shape *s)
{
    return s->max;
}

int pv_shape_nstages(const pv_shape *s)
{
    return s->n;
}

double pv_shape_start(const pv_shape *s)
{
    return s->start;
}

const struct pv_stage *pv_shape_stage(const pv_shape *s, int i)
{
    return i >= 0 && i < s->n ? &s->st[i] : NULL;
}

/* ---- the target, its integral and the inverse ------------------------- */

/*
 * The stage holding t, for 0 <= t < duration: the last i with t0[i] <= t,
 * found by bisection. That stage has a positive duration (a stage of
 * duration 0 before t is followed by one starting at the same time), and
 * at a jump the target is the one after it (the shape is right-continuous).
 */
static int stage_at(const pv_shape *s, double t)
{
    int lo = 0, hi = s->n - 1; /* the answer is in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (s->t0[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

double pv_shape_at(const pv_shape *s, double t_s)
{
    if (!(t_s >= 0)) /* NaN too */
        return s->start;
    if (t_s >= s->duration)
        return s->v0[s->n];
    int i = stage_at(s, t_s);
    double a = s->v0[i], b = s->v0[i + 1];
    return a + (b - a) * ((t_s - s->t0[i]) / s->st[i].duration_s);
}

double pv_shape_integral(const pv_shape *s, double t_s)
{
    if (!(t_s > 0))
        return 0;
    if (t_s >= s->duration)
        return s->cum[s->n];
    int i = stage_at(s, t_s);
    double a = s->v0[i], b = s->v0[i + 1];
    double x = t_s - s->t0[i];
    return s->cum[i] + x * (a + 0.5 * (b - a) * (x / s->st[i].duration_s));
}

/*
 * Where the integral reaches v inside stage i, given cum[i] < v <= cum[i + 1]
 * (so the stage has a positive duration and integral). With the target
 * a + k x at x seconds into the stage, the integral from the start is
 * a x + k x^2 / 2 = r. The root is written 2r / (a + sqrt(a^2 + 2 k r)),
 * which has no cancellation when k >= 0; on a ramp down the same equation is
 * solved backwards from the stage's end (target b + |k| y at y seconds
 * before it), so that near a target of 0 the answer is still exact (a ramp
 * down to 0 reaches its whole integral at its very end, not 1e-7 s before).
 */
static double solve_in_stage(const pv_shape *s, int i, double v)
{
    double d = s->st[i].duration_s;
    double a = s->v0[i], b = s->v0[i + 1];
    double t;
    if (b >= a) {
        double r = v - s->cum[i], k = (b - a) / d;
        double x = 2 * r / (a + sqrt(a * a + 2 * k * r));
        t = s->t0[i] + (x < d ? x : d);
    } else {
        double q = s->cum[i + 1] - v, k = (a - b) / d;
        double y = q > 0 ? 2 * q / (b + sqrt(b * b + 2 * k * q)) : 0;
        t = s->t0[i + 1] - (y < d ? y : d);
    }
    return t < s->t0[i + 1] ? t : s->t0[i + 1];
}

double pv_shape_inverse(const pv_shape *s, double v)
{
    if (v <= 0)
        return 0;
    if (!(v <= s->cum[s->n])) /* NaN too */
        return -1;
    int lo = 1, hi = s->n; /* the first j with cum[j] >= v is in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->cum[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return solve_in_stage(s, lo - 1, v);
}

/* ---- arrivals --------------------------------------------------------- */

void pv_arrivals_init(struct pv_arrivals *a, const pv_shape *shape, enum pv_arrival kind,
                      int thread, int nthreads)
{
    assert(nthreads >= 1 && thread >= 0 && thread < nthreads);
    memset(a, 0, sizeof(*a));
    a->shape = shape;
    a->kind = kind;
    a->share = 1.0 / nthreads;
    a->phase = (thread + 0.5) / nthreads;
}

bool pv_arrivals_next(struct pv_arrivals *a, double u, double *t_s)
{
    const pv_shape *s = a->shape;
    if (a->kind == PV_ARRIVAL_UNIFORM) {
        a->cum = a->phase + (double)a->count; /* not a running sum: no drift */
    } else {
        /*
         * -ln(u) is exponential of mean 1. A step of 0 (u = 1) would put an
         * arrival at integral 0, at t = 0 even when the target is 0 there,
         * and again at every call: at least the smallest double is added.
         */
        double step = u < 1 ? -log(u > 0 ? u : DBL_TRUE_MIN) : 0; /* u <= 0, NaN: 744 */
        a->cum += step > DBL_MIN ? step : DBL_MIN;
    }
    double v = a->cum / a->share; /* in the shape's own units */
    if (!(v <= s->cum[s->n]))
        return false;
    /*
     * The cursor: the first j with cum[j] >= v never moves back, since v
     * only grows; a whole schedule walks each stage once, so a call costs
     * O(1) amortized (O(stages) at most for one call).
     */
    while (s->cum[a->seg + 1] < v)
        a->seg++;
    double t = solve_in_stage(s, a->seg, v);
    if (t < a->last_s) /* rounding inside a stage must not make time go back */
        t = a->last_s;
    a->last_s = t;
    a->count++;
    *t_s = t;
    return true;
}
