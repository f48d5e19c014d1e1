/*
 * pv_run.c - the run engine's public API: checks and set-up of a run, its
 * worker threads (and their pinning), stop, progress, wait and destroy.
 * The files of the engine are listed in pv_run_int.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_run_int.h"

/* ---- configuration ---------------------------------------------------- */

const char *pv_protocol_name(enum pv_protocol p)
{
    switch (p) {
    case PV_PROTOCOL_PREPARED: return "prepared";
    case PV_PROTOCOL_EXTENDED: return "extended";
    case PV_PROTOCOL_SIMPLE: return "simple";
    }
    return "?";
}

void pv_run_config_defaults(struct pv_run_config *cfg)
{
    int c = cfg->concurrency > 0 ? cfg->concurrency : 1;
    /* the open model and shaped runs have idle slots: closing the idle
       connections beyond c/4 would reopen one for nearly every execution
       (1787 connects in 3 s at --rate 5000 -c 10, each the cold first
       query of a new backend) */
    if (cfg->pool.size < 0)
        cfg->pool.size = cfg->rate > 0 || cfg->shape ? c : PV_MAX(1, c / 4);
    if (cfg->pool.max_overflow < 0)
        cfg->pool.max_overflow = c;
    if (cfg->pool.timeout_s <= 0)
        cfg->pool.timeout_s = 30;
    if (cfg->pool.recycle_s <= 0)
        cfg->pool.recycle_s = 3600;
    if (cfg->pool.connect_timeout_s <= 0)
        cfg->pool.connect_timeout_s = 30;
    if (cfg->threads <= 0)
        cfg->threads = 1;
}

/* ---- worker threads --------------------------------------------------- */

/* Acts on pv_run_stop / pv_run_stop_now, if either was called. */
static void stop_check(struct worker *w)
{
    int stop = atomic_load(&w->run->stop);
    if (stop == 2)
        pv_run__worker_stop_now(w);
    else if (stop)
        pv_run__worker_begin_stop(w);
}

/* pv_run_stop(_now), or executions handed over by another worker. */
static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    stop_check(w);
    if (!w->connect_phase && !w->finished)
        pv_run__worker_fill(w);
}

/* The worker thread: connect phase, barrier, then the loop until the
   worker has finished. */
static void worker_main(void *arg)
{
    struct worker *w = arg;
    pv_run *r = w->run;
    char name[16];
    snprintf(name, sizeof(name), "pv-run-%d", w->id);
    pthread_setname_np(pthread_self(), name); /* for top and gdb */

    if (w->cpu >= 0) {
        cpu_set_t *set = CPU_ALLOC((size_t)w->cpu + 1);
        size_t size = CPU_ALLOC_SIZE((size_t)w->cpu + 1);
        w->pin_failed = set == NULL;
        if (set) {
            CPU_ZERO_S(size, set);
            CPU_SET_S((size_t)w->cpu, size, set);
            w->pin_failed = pthread_setaffinity_np(pthread_self(), size, set) != 0;
            CPU_FREE(set);
        }
    }

    /* Phase 1: open the connections the slots need, all at once. */
    w->connect_phase = true;
    int per = pv_run__pipelined(r) ? r->cfg.pipeline : 1;
    int initial = PV_MIN((w->slots + per - 1) / per, w->pool_max);
    for (int i = 0; i < initial && w->rc == 0; i++)
        pv_run__conn_open(w);
    while (w->nconnecting > 0 && !atomic_load(&r->stop))
        uv_run(&w->loop, UV_RUN_ONCE);
    w->connected_ns = pv_now_ns();
    w->connect_phase = false;
    /* the idle list's extra connections beyond idle_cap stay: they are in use soon */

    /* --start-at: connected, wait for the wall-clock time (a stop ends the wait). */
    for (double left; (left = r->cfg.start_at - pv_wall_time()) > 0 && !atomic_load(&r->stop);)
        nanosleep(&(struct timespec){0, (long)(PV_MIN(left, 0.05) * 1e9)}, NULL);

    /* Phase 2: everyone connected; start the clock together. */
    uv_barrier_wait(&r->barrier);
    /* One clock for all: the first worker past the barrier starts it, and
     * the others take its start. A worker descheduled here on a loaded
     * machine would otherwise start its intervals, warm-up and -T late (by
     * 20 ms seen under ASan), ending after the others' timeline. */
    uint64_t now = pv_now_ns(), first = 0;
    if (atomic_compare_exchange_strong(&r->clock_ns, &first, now)) {
        r->result.started_at = pv_wall_time(); /* the report's: when the clock started */
        first = now;
    }
    w->start_ns = first;
    w->measure_ns = w->start_ns + (uint64_t)(r->cfg.warmup_s * 1e9);
    w->end_ns = w->measure_ns + (uint64_t)(r->cfg.duration_s * 1e9);
    pv_run__tl_start(w);
    pv_run__sched_start(w);
    stop_check(w);
    pv_run__worker_fill(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (atomic_fetch_sub(&r->workers_left, 1) == 1 && r->cfg.on_done)
        r->cfg.on_done(r->cfg.on_done_arg);
}

static int split(int total, int parts, int i)
{
    return total / parts + (i < total % parts ? 1 : 0);
}

/* Every setting of cfg in its range, and settings that fit together. */
static int check_config(const struct pv_run_config *cfg, pv_err *err)
{
    if (!cfg->target || !cfg->workload || pv_workload_count(cfg->workload) == 0)
        return pv_err_set(err, VOLLEY_EINVAL, "nothing to run");
    if (pv_workload_check_ready(cfg->workload, err) != 0)
        return VOLLEY_EINVAL; /* a PARAMETERS_QUERY without its rows */
    if (cfg->concurrency < 1 || cfg->concurrency > 10000)
        return pv_err_set(err, VOLLEY_EINVAL, "concurrency must be between 1 and 10000, not %d",
                          cfg->concurrency);
    if (cfg->pool.size < 1 || cfg->pool.max_overflow < 0)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "pool size must be at least 1 and overflow at least 0");
    if ((long)cfg->pool.size + cfg->pool.max_overflow > 100000)
        return pv_err_set(err, VOLLEY_EINVAL, "pool size + overflow is too large");
    if (cfg->pipeline < 0 || cfg->pipeline > 1000)
        return pv_err_set(err, VOLLEY_EINVAL, "pipeline depth must be between 1 and 1000");
    if (cfg->pipeline > 1 && cfg->protocol == PV_PROTOCOL_SIMPLE)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "--pipeline needs --protocol extended or prepared (libpq pipelines "
                          "only the extended protocol)");
    if (cfg->interval_s < 0 || (cfg->interval_s > 0 && cfg->interval_s < 0.001) ||
        cfg->interval_s > 86400 || !(cfg->interval_s == cfg->interval_s))
        return pv_err_set(err, VOLLEY_EINVAL,
                          "the timeline's interval must be between 0.001 and 86400 seconds");
    if (cfg->timeline_cap < 0 || cfg->timeline_cap == 1 || cfg->timeline_cap % 2 != 0)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "the timeline's cap must be an even number of points, at least 2");
    if (cfg->retries < 0 || cfg->retries > 100)
        return pv_err_set(err, VOLLEY_EINVAL, "retries must be between 0 and 100");
    if (cfg->duration_s < 0 || cfg->warmup_s < 0 || cfg->command_timeout_s < 0)
        return pv_err_set(err, VOLLEY_EINVAL, "durations and timeouts cannot be negative");
    if (cfg->rate < 0 || cfg->rate > 1e7 || cfg->max_lag_s < 0)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "the rate must be between 0 and 10000000 per "
                          "second, and the maximum lag not negative");
    if (cfg->rate > 0 && !cfg->shape &&
        cfg->warmup_s + cfg->duration_s + 1.0 > PV_RUN_LONGEST_SHAPE_S)
        return pv_err_set(err, VOLLEY_EINVAL, "a run at a rate lasts at most 30 days");
    if (cfg->max_lag_s > 0 && cfg->rate <= 0)
        return pv_err_set(err, VOLLEY_EINVAL, "a maximum lag needs a rate (the open model)");
    if (cfg->shape && cfg->duration_s <= 0 && cfg->rate <= 0)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "a shaped closed-model run is time-based: give it a duration");
    for (size_t i = 0; i < pv_workload_count(cfg->workload); i++) {
        const struct pv_query *q = pv_workload_query(cfg->workload, i);
        if (cfg->pipeline > 1 && q->nsteps > 0)
            return pv_err_set(err, VOLLEY_EINVAL,
                              "%s: a transaction cannot run with --pipeline (its statements "
                              "wait for each other's results)",
                              q->path);
        if (cfg->protocol == PV_PROTOCOL_SIMPLE && q->nparams > 0)
            return pv_err_set(err, VOLLEY_EINVAL,
                              "%s: a query with parameters needs --protocol extended or "
                              "prepared (parameters are never spliced into SQL text)",
                              q->path);
    }
    return 0;
}

/*
 * The work: the flat scenarios with their cumulative counts (count-based
 * claims), the statement slots and their prepared names (a transaction's
 * statements after the queries), and a weighted mix's cumulative shares.
 * @return 0 or VOLLEY_ENOMEM.
 */
static int plan_work(pv_run *r, int *max_step_params)
{
    const pv_workload *wl = r->cfg.workload;
    size_t nq = r->nqueries;
    r->nscen = pv_workload_scenario_count(wl);
    r->scen = calloc(r->nscen, sizeof(*r->scen));
    r->cum = calloc(r->nscen, sizeof(*r->cum));
    r->nslots = nq;
    *max_step_params = 0;
    bool weighted = false;
    double total = 0;
    for (size_t i = 0; i < nq; i++) {
        const struct pv_query *q = pv_workload_query(wl, i);
        r->nslots += (size_t)q->nsteps;
        r->max_params = PV_MAX(r->max_params, q->nparams);
        for (int j = 0; j < q->nsteps; j++)
            *max_step_params = PV_MAX(*max_step_params, q->steps[j].nparams);
        weighted = weighted || q->weight > 0;
        total += pv_workload_weight(q);
    }
    r->stmt_names = calloc(r->nslots, sizeof(*r->stmt_names));
    r->step_slot = calloc(nq, sizeof(*r->step_slot));
    r->result.queries = calloc(nq, sizeof(*r->result.queries));
    if (weighted) /* each file's weight spread over its scenarios */
        r->wcum = calloc(r->nscen, sizeof(*r->wcum));
    if (!r->scen || !r->cum || !r->stmt_names || !r->step_slot || !r->result.queries ||
        (weighted && !r->wcum))
        return VOLLEY_ENOMEM;
    size_t k = 0, slot = nq;
    uint64_t cum = 0;
    double acc = 0;
    for (size_t i = 0; i < nq; i++) {
        const struct pv_query *q = pv_workload_query(wl, i);
        snprintf(r->stmt_names[i], sizeof(r->stmt_names[i]), "pgvolley_%zu", i);
        r->step_slot[i] = slot;
        for (int j = 0; j < q->nsteps; j++, slot++)
            snprintf(r->stmt_names[slot], sizeof(r->stmt_names[slot]), "pgvolley_%zu_%d", i, j + 1);
        r->result.queries[i].query = q;
        for (size_t j = 0; j < q->nscenarios; j++, k++) {
            r->scen[k].query = (uint32_t)i;
            r->scen[k].scen = (uint32_t)j;
            cum += q->scenarios[j].exec_count;
            r->cum[k] = cum;
            if (weighted) {
                acc += pv_workload_weight(q) / (double)q->nscenarios / total;
                r->wcum[k] = (uint64_t)(acc * PV_RUN_WEIGHT_ONE);
            }
        }
    }
    r->total_items = cum;
    if (weighted) /* every draw lands below the last share */
        r->wcum[r->nscen - 1] = UINT64_MAX;
    return 0;
}

/* Worker i's share of the slots and the pool, and what it records into.
   @return 0 or VOLLEY_ENOMEM. */
static int worker_init(pv_run *r, int i, int max_step_params)
{
    const struct pv_run_config *cfg = &r->cfg;
    struct worker *w = &r->workers[i];
    int nw = r->nworkers, pool_total = cfg->pool.size + cfg->pool.max_overflow;
    size_t nq = r->nqueries;
    w->run = r;
    w->id = i;
    w->slots = w->slots_free = split(cfg->concurrency, nw, i);
    w->pool_max = split(pool_total, nw, i);
    w->idle_cap = PV_MAX(1, split(cfg->pool.size, nw, i));
    w->conns = calloc((size_t)w->pool_max, sizeof(*w->conns));
    w->execs = calloc((size_t)w->slots, sizeof(*w->execs));
    w->stats = calloc(r->nscen, sizeof(*w->stats));
    w->buffered = calloc(r->nscen, 1);
    pv_scenario_scratch_init(&w->draw, cfg->seed, (uint64_t)i);
    if (!w->conns || !w->execs || !w->stats || !w->buffered)
        return VOLLEY_ENOMEM;
    if (r->nslots > nq) {
        w->step_stats = calloc(r->nslots - nq, sizeof(*w->step_stats));
        w->step_vals = calloc((size_t)PV_MAX(max_step_params, 1), sizeof(*w->step_vals));
        if (!w->step_stats || !w->step_vals)
            return VOLLEY_ENOMEM;
    }
    if (cfg->rate > 0) {
        w->sched = calloc(nq, sizeof(*w->sched));
        if (!w->sched)
            return VOLLEY_ENOMEM;
        for (size_t j = 0; j < nq; j++)
            if (pv_sched_stats_init(&w->sched[j]) != 0)
                return VOLLEY_ENOMEM;
    }
    for (int j = 0; j < w->slots; j++) {
        w->execs[j].next = w->free_execs;
        w->free_execs = &w->execs[j];
    }
    for (size_t j = 0; j < r->nscen; j++)
        if (pv_stat_init(&w->stats[j]) != 0)
            return VOLLEY_ENOMEM;
    if (pv_run__tl_worker_init(w) != 0)
        return VOLLEY_ENOMEM;
    return pv_hist_create(&w->pool.acquire_wait);
}

int pv_run_create(const struct pv_run_config *cfg, pv_run **out, pv_err *err)
{
    int rc = check_config(cfg, err);
    if (rc != 0)
        return rc;
    pv_run *r = calloc(1, sizeof(*r));
    if (!r)
        return VOLLEY_ENOMEM;
    if (uv_mutex_init(&r->stop_mu) != 0) {
        free(r);
        return VOLLEY_ENOMEM;
    }
    r->cfg = *cfg;
    r->started = r->joined = true; /* until the end of this: nothing to stop */
    r->orphans_tail = &r->orphans;
    r->max_lag_ns = (uint64_t)(cfg->max_lag_s * 1e9);
    r->timeout_ns = (uint64_t)(cfg->command_timeout_s * 1e9);
    r->recycle_ns = (uint64_t)(cfg->pool.recycle_s * 1e9);
    r->nqueries = r->result.nqueries = pv_workload_count(cfg->workload);
    if (cfg->rate > 0 && !cfg->shape) {
        /* a constant rate, for the warm-up and the run (count-based: until
           the executions are done, within the longest shape there is) */
        struct pv_stage st = {cfg->duration_s > 0 ? cfg->warmup_s + cfg->duration_s + 1.0
                                                  : PV_RUN_LONGEST_SHAPE_S,
                              cfg->rate};
        pv_err serr;
        rc = pv_shape_create(cfg->rate, &st, 1, &r->own_shape, &serr);
        if (rc != 0 && rc != VOLLEY_ENOMEM)
            pv_err_set(err, rc, "%s", serr.msg);
    }
    r->shape = cfg->shape ? cfg->shape : r->own_shape;

    int max_step_params = 0;
    if (rc == 0)
        rc = plan_work(r, &max_step_params);
    if (rc == 0)
        rc = pv_run__tl_init(r);
    int pool_total = cfg->pool.size + cfg->pool.max_overflow;
    r->nworkers = r->live_workers =
        PV_MIN(PV_MIN(PV_MAX(cfg->threads, 1), cfg->concurrency), pool_total);
    if (rc == 0 && !(r->workers = calloc((size_t)r->nworkers, sizeof(*r->workers))))
        rc = VOLLEY_ENOMEM;
    for (int i = 0; rc == 0 && i < r->nworkers; i++)
        rc = worker_init(r, i, max_step_params);
    if (rc != 0) {
        pv_run_destroy(r);
        return rc;
    }
    r->started = r->joined = false;
    *out = r;
    return 0;
}

/* The CPUs this process may run on, in order; sized for any number of CPUs. */
static int allowed_cpus(int **out, int *n)
{
    for (size_t ncpu = CPU_SETSIZE; ncpu <= ((size_t)1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        size_t size = CPU_ALLOC_SIZE(ncpu);
        if (!set)
            return VOLLEY_ENOMEM;
        if (sched_getaffinity(0, size, set) != 0) {
            CPU_FREE(set);
            if (errno == EINVAL) /* the kernel's mask is larger: try a larger set */
                continue;
            return VOLLEY_EIO;
        }
        int count = CPU_COUNT_S(size, set), k = 0;
        int *cpus = count > 0 ? malloc((size_t)count * sizeof(*cpus)) : NULL;
        if (!cpus) {
            CPU_FREE(set);
            return count > 0 ? VOLLEY_ENOMEM : VOLLEY_EIO;
        }
        for (size_t c = 0; c < ncpu && k < count; c++) {
            if (CPU_ISSET_S(c, size, set))
                cpus[k++] = (int)c;
        }
        CPU_FREE(set);
        *out = cpus;
        *n = k;
        return 0;
    }
    return VOLLEY_EIO;
}

int pv_run_start(pv_run *r, pv_err *err)
{
    if (uv_barrier_init(&r->barrier, (unsigned)r->nworkers) != 0)
        return pv_err_set(err, VOLLEY_EIO, "cannot create a thread barrier");
    r->barrier_init = true;
    r->t0 = pv_now_ns();
    r->result.started_at = pv_wall_time();
    atomic_store(&r->workers_left, r->nworkers);
    int *cpus = NULL, ncpus = 0;
    if (r->cfg.pin_threads) {
        int rc = allowed_cpus(&cpus, &ncpus);
        if (rc != 0)
            return pv_err_set(err, rc, "cannot read the CPUs this process may use");
        /* the cancel threads a pinned worker starts take the process's CPUs
           (pv_conn.c), not the worker's */
    }
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        w->cpu = ncpus > 0 ? cpus[i % ncpus] : -1;
        if (uv_loop_init(&w->loop) != 0)
            return pv_err_set(err, VOLLEY_EIO, "cannot create an event loop");
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        uv_timer_init(&w->loop, &w->pool_timer);
        w->pool_timer.data = w;
        uv_timer_init(&w->loop, &w->retry_timer);
        w->retry_timer.data = w;
        uv_timer_init(&w->loop, &w->sweep_timer);
        uv_timer_init(&w->loop, &w->connect_timer);
        w->connect_timer.data = w;
        w->sweep_timer.data = w;
        uv_check_init(&w->loop, &w->done_check);
        w->done_check.data = w;
        if (r->timeout_ns) {
            uint64_t every =
                PV_MIN(PV_MAX(r->timeout_ns / PV_RUN_SWEEP_DIVISOR / 1000000, PV_RUN_SWEEP_MIN_MS),
                       PV_RUN_SWEEP_MAX_MS);
            uv_timer_start(&w->sweep_timer, pv_run__on_timeout_sweep, every, every);
        }
        w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ r->t0;
        if (pv_run__sched_init(w) != 0)
            return pv_err_set(err, VOLLEY_EIO, "cannot create a timer: %s", strerror(errno));
        w->next_scen = (uint64_t)i * r->nscen / (uint64_t)r->nworkers;
        w->wake_open = true;
    }
    free(cpus);
    /* without it (no thread to be had) each worker merges its own intervals */
    (void)pv_run__tl_agg_start(r);
    for (int i = 0; i < r->nworkers; i++) {
        if (uv_thread_create(&r->workers[i].thread, worker_main, &r->workers[i]) != 0) {
            /* cannot happen in practice; threads already started would wait
               at the barrier forever, so this is fatal for the process */
            return pv_err_set(err, VOLLEY_EIO, "cannot start worker thread %d", i);
        }
    }
    r->started = true;
    return 0;
}

void pv_run__abort(pv_run *r, const char *reason)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&r->aborting, &expected, 1))
        return;
    snprintf(r->abort_reason, sizeof(r->abort_reason), "%s", reason);
    pv_run_stop(r);
}

static void wake_all(pv_run *r)
{
    uv_mutex_lock(&r->stop_mu);
    for (int i = 0; i < r->nworkers; i++)
        if (r->workers[i].wake_open)
            uv_async_send(&r->workers[i].wake);
    uv_mutex_unlock(&r->stop_mu);
}

void pv_run_stop(pv_run *r)
{
    int expected = 0;
    atomic_compare_exchange_strong(&r->stop, &expected, 1);
    wake_all(r);
}

void pv_run_stop_now(pv_run *r)
{
    atomic_store(&r->stop, 2);
    wake_all(r);
}

void pv_run_progress(const pv_run *r, struct pv_progress *p)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < r->nworkers; i++) {
        p->done += atomic_load_explicit(&r->workers[i].done, memory_order_relaxed);
        p->failed += atomic_load_explicit(&r->workers[i].failed, memory_order_relaxed);
    }
    p->total = r->cfg.duration_s > 0 ? 0 : r->total_items;
    uint64_t clock = atomic_load(&((pv_run *)r)->clock_ns);
    p->connecting = clock == 0;
    if (!p->connecting) {
        uint64_t now = pv_now_ns(), measure = clock + (uint64_t)(r->cfg.warmup_s * 1e9);
        p->warming_up = now < measure;
        p->elapsed_s = now > measure ? (double)(now - measure) / 1e9 : 0;
    }
    for (int i = 0; i < r->nworkers; i++) {
        const struct worker *w = &r->workers[i];
        p->in_flight += atomic_load_explicit(&w->g_in_flight, memory_order_relaxed);
        p->pool_in_use += atomic_load_explicit(&w->g_in_use, memory_order_relaxed);
        p->pool_waiting += atomic_load_explicit(&w->g_waiting, memory_order_relaxed);
    }
    p->pool_waiting += atomic_load_explicit(&((pv_run *)r)->norphans, memory_order_relaxed);
    int open = atomic_load_explicit(&((pv_run *)r)->open_conns, memory_order_relaxed);
    p->pool_open = open > 0 ? (uint64_t)open : 0;
}

int pv_run_wait(pv_run *r, pv_err *err)
{
    if (r->joined)
        return 0;
    for (int i = 0; i < r->nworkers; i++) {
        uv_thread_join(&r->workers[i].thread);
        uv_loop_close(&r->workers[i].loop);
    }
    r->joined = true;
    pv_run__tl_agg_stop(r); /* each worker waited for its jobs before its last */

    int rc = pv_run__merge(r);
    pv_run__tl_result(r);
    if (rc != 0)
        return pv_err_set(err, rc, "out of memory while merging statistics");
    return 0;
}

const struct pv_run_result *pv_run_result(const pv_run *r)
{
    return &r->result;
}

void pv_run_destroy(pv_run *r)
{
    if (!r)
        return;
    if (r->started && !r->joined) {
        pv_run_stop(r);
        pv_run_wait(r, NULL);
    }
    pv_run__tl_agg_stop(r); /* a start that failed after starting it */
    for (int i = 0; r->workers && i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        for (size_t j = 0; w->stats && j < r->nscen; j++)
            pv_stat_fini(&w->stats[j]);
        free(w->stats);
        free(w->buffered);
        for (size_t j = 0; w->step_stats && j < r->nslots - r->nqueries; j++)
            pv_stat_fini(&w->step_stats[j]);
        free(w->step_stats);
        free(w->step_vals);
        for (size_t j = 0; w->sched && j < r->nqueries; j++)
            pv_sched_stats_fini(&w->sched[j]);
        free(w->sched);
        pv_scenario_scratch_fini(&w->draw);
        free(w->execs);
        free(w->conns);
        pv_hist_destroy(w->pool.acquire_wait);
        pv_run__tl_worker_fini(w);
    }
    free(r->workers);
    while (r->orphans) { /* left by a stop: never sent, never counted */
        struct orphan *o = r->orphans;
        r->orphans = o->next;
        free(o);
    }
    pv_run__result_fini(&r->result);
    pv_run__tl_fini(r);
    pv_shape_destroy(r->own_shape);
    if (r->barrier_init)
        uv_barrier_destroy(&r->barrier);
    uv_mutex_destroy(&r->stop_mu);
    free(r->scen);
    free(r->cum);
    free(r->stmt_names);
    free(r->step_slot);
    free(r->wcum);
    free(r);
}
