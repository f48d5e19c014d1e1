/*
 * pv_init_data.c - the rows of `pgvolley init` as COPY text lines. Every
 * value is a pure function of (seed, table, id): a row hashes to its own
 * splitmix64 stream, and a foreign key's parent is drawn from the child's
 * stream, so tenant_id of a run is that of its schedule's agent whatever
 * connection loads which range.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "suite/pv_init_int.h"

#define DAY_SECONDS  86400
#define SPAN_SECONDS ((int64_t)PV_INIT_DAYS * DAY_SECONDS)
#define GOLDEN       0x9E3779B97F4A7C15u
/* Tenant skew: tenant = 1 + floor(n * u^SKEW_POWER), a power law in which
   tenant 1 owns about n^(-1/4) of the agents (32% of 100 tenants), the
   first tenth about 56%, like a Zipf law of exponent 1. */
#define SKEW_POWER    4.0
#define RUN_MEAN_MS   2000.0
#define RUN_MAX_MS    3600000.0
#define EVENT_SPREAD  600 /* an event comes up to 10 minutes after its run started */
#define NEXT_RUN_DAYS 7

/* ---- the per-row random stream ------------------------------------------ */

struct rowrng {
    uint64_t s;
};

static inline uint64_t fin(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static inline void rr_init(struct rowrng *r, const struct pv_init_gen *g, enum pv_init_table t,
                           int64_t id)
{
    r->s = fin(g->seed ^ fin(((uint64_t)t << 56) ^ (uint64_t)id));
}

static inline uint64_t rr_next(struct rowrng *r)
{
    r->s += GOLDEN;
    return fin(r->s);
}

static inline double rr_u01(struct rowrng *r)
{
    return (double)(rr_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in 1..n. */
static inline int64_t rr_pick(struct rowrng *r, int64_t n)
{
    return 1 + (int64_t)(rr_next(r) % (uint64_t)n);
}

/* ---- the foreign keys as drawn ---------------------------------------- */

int64_t pv_init__agent_tenant(const struct pv_init_gen *g, int64_t agent)
{
    struct rowrng r;
    rr_init(&r, g, PV_INIT_AGENTS, agent);
    int64_t n = g->rows[PV_INIT_TENANTS];
    int64_t t = 1 + (int64_t)((double)n * pow(rr_u01(&r), SKEW_POWER));
    return t > n ? n : t;
}

static int64_t schedule_agent(const struct pv_init_gen *g, int64_t schedule)
{
    struct rowrng r;
    rr_init(&r, g, PV_INIT_SCHEDULES, schedule);
    return rr_pick(&r, g->rows[PV_INIT_AGENTS]);
}

/* A run's first two draws: its schedule and its start (seconds into the span). */
static int64_t run_schedule(const struct pv_init_gen *g, int64_t run, int64_t *started)
{
    struct rowrng r;
    rr_init(&r, g, PV_INIT_RUNS, run);
    int64_t s = rr_pick(&r, g->rows[PV_INIT_SCHEDULES]);
    *started = (int64_t)(rr_next(&r) % (uint64_t)SPAN_SECONDS);
    return s;
}

/* ---- text ---------------------------------------------------------------- */

static inline char *put_i64(char *p, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0)
        *p++ = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_s(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* A timestamptz: sec seconds after the span's start (t_end - 90 days), UTC. */
static char *put_ts(char *p, const struct pv_init_gen *g, int64_t sec)
{
    int64_t d = sec / DAY_SECONDS, rem = sec % DAY_SECONDS;
    if (d >= (int64_t)PV_ARRAY_LEN(g->day))
        d = (int64_t)PV_ARRAY_LEN(g->day) - 1;
    memcpy(p, g->day[d], 11);
    p += 11;
    p = put_2(p, (int)(rem / 3600));
    *p++ = ':';
    p = put_2(p, (int)(rem / 60 % 60));
    *p++ = ':';
    p = put_2(p, (int)(rem % 60));
    return put_s(p, "+00");
}

/* Picks from a table of (cumulative weight, text) rows. */
struct choice {
    double upto;
    const char *text;
};

static const char *choose(const struct choice *c, double u)
{
    while (u >= c->upto)
        c++;
    return c->text;
}

static const struct choice plans[] = {{0.6, "free"}, {0.9, "pro"}, {2.0, "enterprise"}};
static const struct choice agent_status[] = {{0.8, "active"}, {0.95, "paused"}, {2.0, "error"}};
static const struct choice run_status[] = {{0.9, "succeeded"}, {0.97, "failed"}, {2.0, "running"}};
static const struct choice event_kind[] = {
    {0.5, "log"}, {0.75, "metric"}, {0.9, "state"}, {0.97, "warning"}, {2.0, "error"}};
static const char *const crons[] = {"*/5 * * * *",  "0 * * * *",  "0 0 * * *",
                                    "*/15 * * * *", "30 2 * * 1", "0 9 * * 1-5"};

/* ---- rows ---------------------------------------------------------------- */

static char *tenant_row(const struct pv_init_gen *g, struct rowrng *r, int64_t id, char *p)
{
    p = put_s(p, "\ttenant-");
    p = put_i64(p, id);
    *p++ = '\t';
    p = put_s(p, choose(plans, rr_u01(r)));
    *p++ = '\t';
    return put_ts(p, g, (int64_t)(rr_next(r) % (uint64_t)SPAN_SECONDS));
}

static char *agent_row(const struct pv_init_gen *g, struct rowrng *r, int64_t id, char *p)
{
    (void)rr_next(r); /* the tenant's draw (pv_init__agent_tenant) */
    *p++ = '\t';
    p = put_i64(p, pv_init__agent_tenant(g, id));
    p = put_s(p, "\tagent-");
    p = put_i64(p, id);
    *p++ = '\t';
    p = put_s(p, choose(agent_status, rr_u01(r)));
    *p++ = '\t';
    return put_ts(p, g, (int64_t)(rr_next(r) % (uint64_t)SPAN_SECONDS));
}

static char *schedule_row(const struct pv_init_gen *g, struct rowrng *r, int64_t id, char *p)
{
    (void)rr_next(r); /* the agent's draw (schedule_agent) */
    *p++ = '\t';
    p = put_i64(p, schedule_agent(g, id));
    *p++ = '\t';
    p = put_s(p, crons[rr_next(r) % PV_ARRAY_LEN(crons)]);
    p = put_s(p, rr_u01(r) < 0.9 ? "\tt\t" : "\tf\t");
    int64_t next = SPAN_SECONDS + (int64_t)(rr_next(r) % (uint64_t)(NEXT_RUN_DAYS * DAY_SECONDS));
    return put_ts(p, g, next);
}

static char *run_row(const struct pv_init_gen *g, struct rowrng *r, int64_t id, char *p)
{
    int64_t started;
    int64_t schedule = run_schedule(g, id, &started);
    (void)rr_next(r);
    (void)rr_next(r); /* the schedule's and start's draws (run_schedule) */
    *p++ = '\t';
    p = put_i64(p, schedule);
    *p++ = '\t';
    p = put_i64(p, pv_init__agent_tenant(g, schedule_agent(g, schedule)));
    *p++ = '\t';
    const char *status = choose(run_status, rr_u01(r));
    p = put_s(p, status);
    *p++ = '\t';
    p = put_ts(p, g, started);
    if (strcmp(status, "running") == 0)
        return put_s(p, "\t\\N\t\\N");
    double ms = -log(1.0 - rr_u01(r)) * RUN_MEAN_MS;
    int64_t dur = (int64_t)(ms < RUN_MAX_MS ? ms : RUN_MAX_MS);
    *p++ = '\t';
    p = put_ts(p, g, started + dur / 1000);
    *p++ = '\t';
    return put_i64(p, dur);
}

static char *event_row(const struct pv_init_gen *g, struct rowrng *r, char *p)
{
    int64_t run = rr_pick(r, g->rows[PV_INIT_RUNS]), started;
    int64_t schedule = run_schedule(g, run, &started);
    *p++ = '\t';
    p = put_i64(p, run);
    *p++ = '\t';
    p = put_i64(p, pv_init__agent_tenant(g, schedule_agent(g, schedule)));
    *p++ = '\t';
    const char *kind = choose(event_kind, rr_u01(r));
    p = put_s(p, kind);
    *p++ = '\t';
    p = put_ts(p, g, started + (int64_t)(rr_next(r) % EVENT_SPREAD));
    p = put_s(p, "\t{\"seq\": ");
    p = put_i64(p, (int64_t)(rr_next(r) % 1000));
    p = put_s(p, ", \"kind\": \"");
    p = put_s(p, kind);
    p = put_s(p, "\", \"worker\": \"w-");
    p = put_i64(p, (int64_t)(rr_next(r) % 64));
    return put_s(p, "\"}");
}

char *pv_init__gen_row(const struct pv_init_gen *g, enum pv_init_table t, int64_t id, char *p)
{
    struct rowrng r;
    rr_init(&r, g, t, id);
    p = put_i64(p, id);
    switch (t) {
    case PV_INIT_TENANTS: p = tenant_row(g, &r, id, p); break;
    case PV_INIT_AGENTS: p = agent_row(g, &r, id, p); break;
    case PV_INIT_SCHEDULES: p = schedule_row(g, &r, id, p); break;
    case PV_INIT_RUNS: p = run_row(g, &r, id, p); break;
    case PV_INIT_EVENTS: p = event_row(g, &r, p); break;
    case PV_INIT_NTABLES: break;
    }
    *p++ = '\n';
    return p;
}

void pv_init__gen_setup(struct pv_init_gen *g, uint64_t seed, int scale, int64_t t_end)
{
    memset(g, 0, sizeof(*g));
    g->seed = seed;
    for (int t = 0; t < PV_INIT_NTABLES; t++)
        g->rows[t] = pv_init_table_rows((enum pv_init_table)t, scale);
    g->t_end = t_end - t_end % DAY_SECONDS;
    for (size_t d = 0; d < PV_ARRAY_LEN(g->day); d++) {
        time_t day = (time_t)(g->t_end - SPAN_SECONDS + (int64_t)d * DAY_SECONDS);
        struct tm tm;
        gmtime_r(&day, &tm);
        strftime(g->day[d], sizeof(g->day[d]), "%Y-%m-%d ", &tm);
    }
}
