/*
 * pv_diag_int.h - internals shared by the files of the diagnosis:
 *   pv_diag.c          gather's steps (connect, settings, pg_stat_statements,
 *                      index usage, waits), the object, the JSON
 *   pv_diag_plan.c     EXPLAIN of each statement and the plan's findings
 *   pv_diag_sampler.c  the pg_stat_activity sampler thread
 */
#ifndef PV_DIAG_INT_H
#define PV_DIAG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "suite/pv_diag.h"

/* A sequential scan is a finding when its table is larger than either
   bound (pg_class.reltuples / relpages: the planner's own size figures), or
   when EXPLAIN ANALYZE shows its filter discarding at least
   PV_DIAG_SELECTIVE_ROWS rows and PV_DIAG_SELECTIVE_PCT % of the rows it
   read (a selective filter an index could answer, on a smaller table). */
#define PV_DIAG_LARGE_ROWS     10000.0
#define PV_DIAG_LARGE_PAGES    1000.0
#define PV_DIAG_SELECTIVE_ROWS 1000.0
#define PV_DIAG_SELECTIVE_PCT  90.0
/* A wait event (or the Lock wait type) in at least this share of the
   active samples is a finding. */
#define PV_DIAG_WAIT_PCT 25.0
/* and in at least this many samples: one or two samples of a short test
   are chance (a parallel worker's shutdown, say), not a pattern. */
#define PV_DIAG_WAIT_MIN_SAMPLES 5
/* Timeout of the catalog queries of gather (not of the EXPLAINs). */
#define PV_DIAG_CATALOG_TIMEOUT_MS 5000
/* The tables the plans touch, at most. */
#define PV_DIAG_MAX_TABLES 64

/* The diagnosis: the JSON object of contract 3 is the state itself. */
struct pv_diag {
    json_t *root;       /* owns the arrays below */
    json_t *findings;   /* [{kind, text, table}] */
    json_t *plans;      /* [{sql, analyze, format, plan, text, error}] */
    json_t *statements; /* array, or NULL (then "statements": null) */
    json_t *waits;
    json_t *indexes;
    json_t *settings;
    json_t *notes;
    bool oom; /* a jansson call failed: gather returns VOLLEY_ENOMEM */
};

/* One table a plan touches. */
struct pv_diag_table {
    unsigned oid;
    char name[200];   /* oid::regclass::text, as the current search_path prints it */
    double reltuples; /* pg_class: -1 when never analyzed */
    double relpages;
};

/* The state of one gather. */
struct pv_diag_ctx {
    PGconn *pg;
    pv_diag *d;
    int timeout_ms; /* of each EXPLAIN */
    struct pv_diag_table tables[PV_DIAG_MAX_TABLES];
    int ntables;
    char queryids[16][24]; /* Query Identifier of each plan that had one */
    char *query_texts[16]; /* the statement text, for pg_stat_statements by text */
    int nqueries;
};

/* ---- pv_diag.c ---- */
/* Appends a note (one line, formatted). */
void pv_diag__note(pv_diag *d, const char *fmt, ...) PV_PRINTF(2, 3);
/* Appends a finding: kind, table (NULL: none) and the one-line text. */
void pv_diag__finding(pv_diag *d, const char *kind, const char *table, const char *fmt, ...)
    PV_PRINTF(4, 5);
/* Sets obj[key] = v (taking v), noting a failure in d->oom. */
void pv_diag__put(pv_diag *d, json_t *obj, const char *key, json_t *v);
/* Appends v (taking it) to arr, noting a failure in d->oom. */
void pv_diag__push(pv_diag *d, json_t *arr, json_t *v);
/* The first line of the server's (or libpq's) error of r on pg. Into buf. */
const char *pv_diag__error(PGconn *pg, const PGresult *r, char *buf, size_t cap);
/* Runs a command that returns no rows; 0 or -1 (note added, naming what). */
int pv_diag__exec(struct pv_diag_ctx *cx, const char *sql, const char *what);
/* Formats v with thousands separators ("19,999") into buf. */
const char *pv_diag__count(double v, char *buf, size_t cap);

/* ---- pv_diag_plan.c ---- */
/* EXPLAINs statement sql (the test's text) with the example parameters,
   records the plan and its findings, and the tables it touches in cx. */
void pv_diag__explain(struct pv_diag_ctx *cx, const char *sql, const char *const *params,
                      size_t nparams);

/* ---- pv_diag_sampler.c ---- */
/* Appends the sampler's waits (array entries) to d->waits, sets "lock_waits"
   and "sampler", and adds the wait findings. */
void pv_diag__sampler_report(const pv_diag_sampler *s, pv_diag *d);

#endif /* PV_DIAG_INT_H */
