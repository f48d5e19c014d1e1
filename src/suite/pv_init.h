/*
 * pv_init.h - `pgvolley init`: a multi-tenant sample schema and its data
 * (docs/sample-schema.md), loaded fast: tables without keys, COPY in
 * parallel over several connections (each a disjoint id range of every
 * table, in one transaction), then primary keys, foreign keys and indexes,
 * then ANALYZE.
 *
 * The tables are pgvolley's own (pgvolley_tenants, pgvolley_agents,
 * pgvolley_schedules, pgvolley_runs, pgvolley_events, in the connection's
 * current schema). Without drop, pv_init_run refuses when any of them
 * exists; with drop it drops exactly these tables (never CASCADE, so an
 * object of the user's that depends on one makes the drop fail) and nothing
 * else.
 */
#ifndef PV_INIT_H
#define PV_INIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pv_common.h"

#define PV_INIT_SCALE_MAX 10000
#define PV_INIT_JOBS_MAX  64
/* The fixed seed: the same scale gives the same rows (timestamps are
   relative to the UTC day of the init). */
#define PV_INIT_SEED 20261130u

enum pv_init_table {
    PV_INIT_TENANTS,
    PV_INIT_AGENTS,
    PV_INIT_SCHEDULES,
    PV_INIT_RUNS,
    PV_INIT_EVENTS,
    PV_INIT_NTABLES
};

/* The steps pv_init_run reports, in order. */
enum pv_init_step_kind {
    PV_INIT_STEP_CONNECTED, /* the jobs connections are open */
    PV_INIT_STEP_DROPPED,   /* drop: the old tables are gone */
    PV_INIT_STEP_CREATED,   /* the tables exist (no keys) */
    PV_INIT_STEP_TABLE,     /* one table loaded: table, rows, seconds */
    PV_INIT_STEP_KEYS,      /* primary keys */
    PV_INIT_STEP_INDEXES,   /* foreign keys (validated) and secondary indexes */
    PV_INIT_STEP_ANALYZE,   /* ANALYZE */
};

struct pv_init_step {
    enum pv_init_step_kind kind;
    enum pv_init_table table; /* PV_INIT_STEP_TABLE */
    const char *name;         /* the table's name (STEP_TABLE); static */
    int64_t rows;             /* STEP_TABLE */
    double seconds;           /* the step's wall-clock time */
};

struct pv_init_config {
    const char *conninfo; /* libpq string or URI; NULL or "": libpq's environment */
    int scale;            /* 1..PV_INIT_SCALE_MAX */
    int jobs;             /* connections for the load, 1..PV_INIT_JOBS_MAX */
    bool drop;            /* drop pgvolley's sample tables first */
    uint64_t seed;        /* PV_INIT_SEED for the documented data */
    /* Called on the calling thread after each step (may be NULL). */
    void (*on_step)(void *ud, const struct pv_init_step *step);
    void *ud;
};

struct pv_init_result {
    int64_t rows[PV_INIT_NTABLES];
    int64_t total_rows;
    double load_seconds;  /* the COPY of every table */
    double total_seconds; /* connect to ANALYZE */
    /* A statement the server refused: its SQLSTATE ("" otherwise). */
    char sqlstate[6];
};

/** The table's name ("pgvolley_tenants", ...); static. */
const char *pv_init_table_name(enum pv_init_table t);

/** Rows of table t at scale (tenants 100, agents 2000, schedules 10000,
    runs 100000, events 300000 per unit of scale). */
int64_t pv_init_table_rows(enum pv_init_table t, int scale);

/**
 * Creates and loads the sample schema.
 * @param res filled as far as the init got (zeroed first).
 * @param err what failed: the server's message with its SQLSTATE, the
 *        table that exists, or libpq's connection message (never the
 *        connection string).
 * @return 0;
 *         VOLLEY_EINVAL: a field of cfg out of range;
 *         VOLLEY_EINPUT: one of the tables exists and cfg->drop is false
 *                        (err names it and suggests --drop); nothing was changed;
 *         VOLLEY_ECONNECT: a connection could not be opened (nothing was changed);
 *         VOLLEY_EIO: the server refused a statement or the COPY
 *                     (res->sqlstate says which); the load's transactions
 *                     were rolled back, the tables may stay (--drop clears them);
 *         VOLLEY_ENOMEM.
 */
int pv_init_run(const struct pv_init_config *cfg, struct pv_init_result *res, pv_err *err);

#endif /* PV_INIT_H */
