/*
 * pv_init_int.h - what the files of `pgvolley init` share (pv_init.h is the
 * contract):
 *   pv_init.c       the schema, the phases (create, parallel COPY, keys,
 *                   indexes and foreign keys, ANALYZE) and their threads
 *   pv_init_data.c  the rows: each value a pure function of (seed, table,
 *                   id), so that any split of an id range over connections
 *                   loads the same data
 */
#ifndef PV_INIT_INT_H
#define PV_INIT_INT_H

#include <stdint.h>

#include "suite/pv_init.h"

/* Days covered by the timestamps (the last 90 days before t_end). */
#define PV_INIT_DAYS 90
/* Longest COPY line pv_init__gen_row writes (with its newline). */
#define PV_INIT_ROW_MAX 512

struct pv_init_gen {
    uint64_t seed;
    int64_t rows[PV_INIT_NTABLES]; /* rows of each table (ids 1..rows) */
    int64_t t_end;                 /* epoch seconds: midnight UTC of the day of init */
    /* "YYYY-MM-DD " of the days t_end - PV_INIT_DAYS days ... t_end + 8 days */
    char day[PV_INIT_DAYS + 8][12];
};

/** Sets up g for scale (1..PV_INIT_SCALE_MAX) and the day of t_end (epoch
    seconds, truncated to its UTC midnight). */
void pv_init__gen_setup(struct pv_init_gen *g, uint64_t seed, int scale, int64_t t_end);

/**
 * Writes the COPY text-format line (newline included) of row id (1-based)
 * of table t at p, which has room for PV_INIT_ROW_MAX bytes.
 * @return the end of what was written.
 */
char *pv_init__gen_row(const struct pv_init_gen *g, enum pv_init_table t, int64_t id, char *p);

/** The tenant of an agent, agent of a schedule, ... (the foreign keys as
    the generator draws them; tests of the skew use them). */
int64_t pv_init__agent_tenant(const struct pv_init_gen *g, int64_t agent);

#endif /* PV_INIT_INT_H */
