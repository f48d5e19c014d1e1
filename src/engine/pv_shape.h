/*
 * pv_shape.h - the shape of a load over time, and the arrival times of an
 * open-model run (issue 10: --rate, --arrival, --stages, --ramp-up).
 *
 * A shape is a target that moves linearly between points, as k6's ramping
 * executors do: executions per second with --rate (the open model),
 * executions in flight without it (the closed model). It starts at a given
 * value at t = 0; each stage "DURATION:TARGET" moves it linearly to TARGET
 * over DURATION; after the last stage the shape ends (its duration is the
 * sum of the stages'), and pv_shape_at keeps the last target.
 *
 *   --stages 30s:100,2m:100,30s:0   from the start value to 100 in 30 s,
 *                                   100 for 2 minutes, down to 0 in 30 s.
 *
 * DURATION is a number with an optional unit: ms, s (default), m, h
 * ("1.5s", "90", "2m", "250ms"). A stage of duration 0 jumps to its target.
 * TARGET is a number >= 0.
 *
 * Arrivals (pv_arrivals) are the intended start times of an open-model run:
 * a non-homogeneous Poisson process whose intensity is the shape's target
 * (times a share, for one of several worker threads), or the same schedule
 * with fixed steps of the cumulative intensity (uniform arrivals). They are
 * found by inverting the cumulative target: the k-th arrival is at the time
 * where the integral of the target reaches E1 + ... + Ek (each Ei drawn from
 * an exponential distribution of mean 1; with uniform arrivals, Ei = 1, and
 * the first is offset by a phase in [0, 1)).
 *
 * Pure computation: no clock, no I/O, no global state. Not thread-safe per
 * object; shapes are read-only after creation and may be shared.
 */
#ifndef PV_SHAPE_H
#define PV_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pv_common.h"

typedef struct pv_shape pv_shape;

/** One stage: the target moves linearly to `target` over `duration_s`. */
struct pv_stage {
    double duration_s;
    double target;
};

/**
 * Parses a --stages value ("30s:100,2m:100,30s:0"); the shape starts at
 * `start`. At most 1000 stages; whitespace around items is allowed.
 * @param max_target largest target allowed (e.g. 10000 for concurrency)
 * @return 0; VOLLEY_EINVAL with err naming the stage ("stage 2 ('2x:100'):
 *         unknown unit 'x' (use ms, s, m or h)"), an empty spec, a negative
 *         or too large value, a total duration of 0 or above 30 days;
 *         VOLLEY_ENOMEM.
 */
int pv_shape_parse(const char *spec, double start, double max_target, pv_shape **out, pv_err *err);

/**
 * A shape from stages (copied). @return 0, VOLLEY_EINVAL (as above, the
 * message "stage N: ..." without the text), VOLLEY_ENOMEM.
 * Both constructors set *out to NULL on error; free with pv_shape_destroy.
 */
int pv_shape_create(double start, const struct pv_stage *stages, int nstages, pv_shape **out,
                    pv_err *err);

/** NULL is a no-op. */
void pv_shape_destroy(pv_shape *s);

double pv_shape_duration(const pv_shape *s); /* sum of the stages' durations, s */
double pv_shape_max(const pv_shape *s);      /* the largest target, start included */
int pv_shape_nstages(const pv_shape *s);
double pv_shape_start(const pv_shape *s);
const struct pv_stage *pv_shape_stage(const pv_shape *s, int i); /* NULL when out of range */

/** The target at t seconds (start before 0, the last target after the end). */
double pv_shape_at(const pv_shape *s, double t_s);

/** The integral of the target from 0 to t (t clamped to [0, duration]). */
double pv_shape_integral(const pv_shape *s, double t_s);

/**
 * The smallest t in [0, duration] at which pv_shape_integral(t) >= v, or a
 * negative value when the integral never reaches v within the shape.
 * Exact for piecewise-linear targets (a quadratic on a ramp).
 */
double pv_shape_inverse(const pv_shape *s, double v);

/* ---- arrivals of the open model ------------------------------------- */

enum pv_arrival { PV_ARRIVAL_POISSON = 0, PV_ARRIVAL_UNIFORM };

/* Set by pv_arrivals_init, moved by pv_arrivals_next; callers only read it. */
struct pv_arrivals {
    const pv_shape *shape; /* borrowed: executions per second over time */
    enum pv_arrival kind;
    double share;   /* this thread's part of the target, (0, 1] */
    double cum;     /* integral of share * target reached by the last arrival */
    double phase;   /* uniform: the first arrival's cum, in (0, 1) */
    uint64_t count; /* arrivals returned so far */
    double last_s;  /* the last arrival's time (arrivals never go back) */
    int seg;        /* cursor: the stage of the last arrival; only moves forward */
};

/**
 * Prepares a thread's arrivals: share = 1/nthreads. With uniform arrivals
 * thread i of n starts at phase (i + 0.5) / n, so the threads' arrivals
 * interleave evenly.
 */
void pv_arrivals_init(struct pv_arrivals *a, const pv_shape *shape, enum pv_arrival kind,
                      int thread, int nthreads);

/**
 * The next arrival, in seconds since the start of the shape.
 * @param u a uniform random number in (0, 1] from the caller's generator
 *        (Poisson: the step is -ln(u), at least the smallest positive
 *        double, so that a target of 0 never gets an arrival; u <= 0 is
 *        taken as the smallest positive double); ignored for uniform arrivals.
 * @return false when the next arrival would be past the shape's end (the
 *         schedule is over, and every later call returns false too); true
 *         and *t_s otherwise. Non-decreasing. An arrival exactly at the end
 *         counts: with uniform arrivals over a constant rate R for D
 *         seconds, one thread gets floor(R * D + 0.5) arrivals.
 * Cost: O(1) amortized: the cursor walks each stage at most once in a
 * whole schedule (checked by test_engine_shape's test_arrivals_cursor).
 */
bool pv_arrivals_next(struct pv_arrivals *a, double u, double *t_s);

#endif /* PV_SHAPE_H */
