/* pv_serve_api.c - the routes of `pgvolley serve`'s JSON API (docs/serve.md,
   GET /api/openapi.json). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_compare.h"
#include "report/pv_report_html.h"
#include "web/pv_serve_int.h"
#include "web/pv_serve_ui.h"

#define NAME_MAX_LEN 200

/* ---- helpers ----------------------------------------------------------- */

static const char *arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* A run id: digits only, 1..INT64_MAX. @return it, or 0. */
static int64_t parse_id(const char *s, size_t len)
{
    if (len == 0 || len > 18)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool parse_num(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static json_t *opt_time(double t)
{
    return t > 0 ? json_real(t) : json_null();
}

json_t *pv_serve__run_json(const struct pv_history_run *r, bool with_config)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "name", json_string(r->name ? r->name : ""));
    json_object_set_new(o, "target", json_string(r->target ? r->target : ""));
    json_object_set_new(o, "state", json_string(pv_history_state_name(r->state)));
    json_object_set_new(o, "created_at", opt_time(r->created_at));
    json_object_set_new(o, "started_at", opt_time(r->started_at));
    json_object_set_new(o, "finished_at", opt_time(r->finished_at));
    json_object_set_new(o, "exit_code",
                        r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
    json_object_set_new(o, "message", json_string(r->message ? r->message : ""));
    json_object_set_new(o, "points", json_integer(r->npoints));
    if (r->has_summary) {
        const struct pv_history_summary *s = &r->summary;
        json_object_set_new(o, "summary",
                            json_pack("{s:I,s:I,s:f,s:f,s:f,s:f}", "executions",
                                      (json_int_t)s->executions, "failed", (json_int_t)s->failed,
                                      "qps", s->qps, "avg_ms", s->avg_ms, "p95_ms", s->p95_ms,
                                      "wall_s", s->wall_s));
    } else {
        json_object_set_new(o, "summary", json_null());
    }
    if (with_config) {
        json_t *cfg = r->config ? json_loads(r->config, 0, NULL) : NULL;
        json_object_set_new(o, "config", cfg ? cfg : json_null());
    }
    return o;
}

/* The history's error as an answer: 404 for a run that does not exist. */
static enum MHD_Result history_error(struct MHD_Connection *c, int rc, const pv_err *err)
{
    if (rc == VOLLEY_EINPUT)
        return pv_serve__error(c, 404, "%s", err->msg);
    return pv_serve__error(c, 500, "run history: %s", err->msg);
}

/* ---- /api/targets, /api/runs ------------------------------------------ */

static enum MHD_Result get_targets(pv_serve *s, struct MHD_Connection *c)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->runner->ntargets; i++) {
        const struct pv_serve_target *t = &s->runner->targets[i];
        json_array_append_new(a, json_pack("{s:s,s:s,s:i}", "name", t->name, "description",
                                           t->description ? t->description : "", "max_concurrency",
                                           t->max_concurrency));
    }
    return pv_serve__json(c, 200, json_pack("{s:o}", "targets", a));
}

static int list_one(void *arg, const struct pv_history_run *r)
{
    json_t *o = pv_serve__run_json(r, false);
    return o && json_array_append_new(arg, o) == 0 ? 0 : VOLLEY_ENOMEM;
}

/* The filter of GET /api/runs from its query. @return NULL or what is wrong. */
static const char *list_filter(struct MHD_Connection *c, struct pv_history_filter *f)
{
    double v;
    const char *st = arg(c, "state");
    if (st) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", st);
        for (char *p = buf, *comma; p; p = comma ? comma + 1 : NULL) {
            comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            int k = pv_history_state_parse(p);
            if (k < 0)
                return "state: queued, running, finished, failed, cancelled or interrupted "
                       "(comma-separated)";
            f->states |= 1u << k;
        }
    }
    f->target = arg(c, "target");
    f->name = arg(c, "name");
    if (arg(c, "since") && !parse_num(arg(c, "since"), 0, 1e12, &f->since))
        return "since: epoch seconds";
    if (arg(c, "until") && !parse_num(arg(c, "until"), 0, 1e12, &f->until))
        return "until: epoch seconds";
    if (arg(c, "before")) {
        if (!parse_num(arg(c, "before"), 1, 9e15, &v))
            return "before: a run id";
        f->before_id = (int64_t)v;
    }
    f->limit = 50;
    if (arg(c, "limit")) {
        if (!parse_num(arg(c, "limit"), 1, 1000, &v))
            return "limit: 1 to 1000";
        f->limit = (int64_t)v;
    }
    return NULL;
}

static enum MHD_Result get_runs(pv_serve *s, struct MHD_Connection *c)
{
    struct pv_history_filter f = {0};
    const char *bad = list_filter(c, &f);
    if (bad)
        return pv_serve__error(c, 400, "%s", bad);
    json_t *a = json_array();
    pv_err err = {{0}};
    int rc = a ? pv_history_list(s->history, &f, list_one, a, &err) : VOLLEY_ENOMEM;
    if (rc != 0) {
        json_decref(a);
        return rc == VOLLEY_ENOMEM ? pv_serve__error(c, 500, "out of memory")
                                   : history_error(c, rc, &err);
    }
    size_t n = json_array_size(a);
    json_t *next =
        n == (size_t)f.limit && n > 0 ? json_object_get(json_array_get(a, n - 1), "id") : NULL;
    return pv_serve__json(
        c, 200, json_pack("{s:o,s:O}", "runs", a, "next_before", next ? next : json_null()));
}

/*
 * Parses and prepares a run request (POST /api/runs, /api/preview): *req and
 * *job set, or the answer (400 with the reason) was queued (*answered).
 */
static enum MHD_Result prepare(pv_serve *s, struct MHD_Connection *c, const char *body, size_t len,
                               json_t **out, void **job, bool *answered)
{
    *answered = true;
    json_error_t je;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!req)
        return pv_serve__error(c, 400, "request body: %d:%d: %s", je.line, je.column, je.text);
    enum MHD_Result ret;
    const char *tname = json_string_value(json_object_get(req, "target"));
    const json_t *jname = json_object_get(req, "name");
    const struct pv_serve_target *t = NULL;
    for (size_t i = 0; tname && i < s->runner->ntargets; i++)
        if (strcmp(s->runner->targets[i].name, tname) == 0)
            t = &s->runner->targets[i];
    if (!json_is_object(req)) {
        ret = pv_serve__error(c, 400, "request body: a JSON object");
    } else if (!tname) {
        ret = pv_serve__error(c, 400, "target: the name of a target (GET /api/targets)");
    } else if (!t) {
        ret = pv_serve__error(c, 400, "target: unknown target '%s' (GET /api/targets)", tname);
    } else if (jname && (!json_is_string(jname) || json_string_length(jname) > NAME_MAX_LEN)) {
        ret = pv_serve__error(c, 400, "name: a string of at most %d bytes", NAME_MAX_LEN);
    } else {
        pv_buf msg = PV_BUF_INIT;
        int status = s->runner->prepare(s->runner->arg, req, t, job, &msg);
        if (status == 200) {
            pv_buf_fini(&msg);
            *out = req;
            *answered = false;
            return MHD_YES;
        }
        ret = pv_serve__error(c, (unsigned)status, "%s", pv_buf_str(&msg));
        pv_buf_fini(&msg);
    }
    json_decref(req);
    return ret;
}

/* POST /api/preview: what the request would run; nothing is queued. */
static enum MHD_Result preview(pv_serve *s, struct MHD_Connection *c, const char *body, size_t len)
{
    json_t *req = NULL;
    void *job = NULL;
    bool answered;
    enum MHD_Result ret = prepare(s, c, body, len, &req, &job, &answered);
    if (answered)
        return ret;
    json_t *p = s->runner->preview(s->runner->arg, job);
    s->runner->free_job(s->runner->arg, job);
    json_decref(req);
    return pv_serve__json(c, 200, p);
}

/* One queued run (the run's object, 201). */
static enum MHD_Result post_runs(pv_serve *s, struct MHD_Connection *c, const char *body,
                                 size_t len)
{
    json_t *req = NULL;
    void *job = NULL;
    bool answered;
    enum MHD_Result ret = prepare(s, c, body, len, &req, &job, &answered);
    if (answered)
        return ret;
    const char *tname = json_string_value(json_object_get(req, "target"));
    const char *name = json_string_value(json_object_get(req, "name"));
    char *cfg = json_dumps(req, JSON_COMPACT);
    pv_err err = {{0}};
    int64_t id = 0;
    int rc = cfg ? pv_history_add(s->history, name, tname, cfg, pv_wall_time(), &id, &err)
                 : pv_err_set(&err, VOLLEY_ENOMEM, "out of memory");
    free(cfg);
    json_decref(req); /* name and tname were borrowed from it */
    if (rc != 0) {
        s->runner->free_job(s->runner->arg, job);
        return pv_serve__error(c, 500, "%s", err.msg);
    }
    if (pv_serve__runs_submit(s->runs, id, job) != 0) {
        pv_history_finish(s->history, id, PV_HISTORY_FAILED, pv_wall_time(), NULL, NULL, -1,
                          "out of memory", &err);
        return pv_serve__error(c, 500, "out of memory");
    }
    struct pv_history_run r = {0};
    rc = pv_history_get(s->history, id, false, &r, &err);
    json_t *o = rc == 0 ? pv_serve__run_json(&r, false) : NULL;
    pv_history_run_fini(&r);
    char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/runs/%lld", (long long)id);
    ret = txt ? pv_serve__respond(c, 201, "application/json", txt, strlen(txt),
                                  MHD_HTTP_HEADER_LOCATION, loc)
              : pv_serve__error(c, 500, "out of memory");
    free(txt);
    return ret;
}

/* DELETE /api/runs?keep=N&older_than=SECONDS: prunes ended runs. */
static enum MHD_Result prune_runs(pv_serve *s, struct MHD_Connection *c)
{
    double keep = 0, older = 0;
    if (arg(c, "keep") && !parse_num(arg(c, "keep"), 0, 1e9, &keep))
        return pv_serve__error(c, 400, "keep: a number of runs, 0 or more");
    if (arg(c, "older_than") && !parse_num(arg(c, "older_than"), 0, 1e10, &older))
        return pv_serve__error(c, 400, "older_than: seconds, 0 or more");
    if (!arg(c, "keep") && !arg(c, "older_than"))
        return pv_serve__error(c, 400,
                               "keep or older_than is needed (keep=0 deletes every "
                               "ended run)");
    int64_t deleted = 0;
    pv_err err = {{0}};
    int rc = pv_history_prune(s->history, older > 0 ? pv_wall_time() - older : 0, (int64_t)keep,
                              &deleted, &err);
    if (rc != 0)
        return history_error(c, rc, &err);
    return pv_serve__json(c, 200, json_pack("{s:I}", "deleted", (json_int_t)deleted));
}

/* ---- /api/runs/{id}... ------------------------------------------------ */

static enum MHD_Result get_run(pv_serve *s, struct MHD_Connection *c, int64_t id)
{
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    int rc = pv_history_get(s->history, id, true, &r, &err);
    if (rc != 0)
        return history_error(c, rc, &err);
    enum MHD_Result ret;
    const char *view = arg(c, "view");
    if (view && strcmp(view, "run") != 0 && strcmp(view, "report") != 0) {
        ret = pv_serve__error(c, 400, "view: run or report");
    } else if (view && strcmp(view, "report") == 0 && !r.report) {
        ret = pv_serve__error(c, 409, "run %lld has no report (it is %s)", (long long)id,
                              pv_history_state_name(r.state));
    } else if (r.report && !(view && strcmp(view, "run") == 0)) {
        ret = pv_serve__respond(c, 200, "application/json", r.report, strlen(r.report),
                                "X-Pgvolley-Run-State", pv_history_state_name(r.state));
    } else {
        json_t *o = pv_serve__run_json(&r, true);
        if (o && r.state == PV_HISTORY_QUEUED)
            json_object_set_new(o, "queue_position",
                                json_integer(pv_serve__runs_position(s->runs, id)));
        ret = pv_serve__json(c, 200, o);
    }
    pv_history_run_fini(&r);
    return ret;
}

static enum MHD_Result delete_run(pv_serve *s, struct MHD_Connection *c, int64_t id)
{
    pv_err err = {{0}};
    struct pv_history_run r = {0};
    int rc = pv_history_get(s->history, id, false, &r, &err);
    enum pv_history_state st = r.state;
    pv_history_run_fini(&r);
    if (rc != 0)
        return history_error(c, rc, &err);
    if (st == PV_HISTORY_QUEUED || st == PV_HISTORY_RUNNING)
        return pv_serve__error(c, 409, "run %lld is %s: cancel it first", (long long)id,
                               pv_history_state_name(st));
    rc = pv_history_delete(s->history, id, &err);
    if (rc != 0)
        return history_error(c, rc, &err);
    return pv_serve__respond(c, 204, "application/json", "", 0, NULL, NULL);
}

static enum MHD_Result cancel_run(pv_serve *s, struct MHD_Connection *c, int64_t id)
{
    int status = pv_serve__runs_cancel(s->runs, id);
    if (status == 404) {
        struct pv_history_run r = {0};
        pv_err err = {{0}};
        int rc = pv_history_get(s->history, id, false, &r, &err);
        enum pv_history_state st = r.state;
        pv_history_run_fini(&r);
        if (rc != 0)
            return history_error(c, rc, &err);
        if (st == PV_HISTORY_QUEUED || st == PV_HISTORY_RUNNING) /* a shared history */
            return pv_serve__error(c, 409,
                                   "run %lld is %s on another pgvolley serve sharing this "
                                   "history: cancel it there",
                                   (long long)id, pv_history_state_name(st));
        return pv_serve__error(c, 409, "run %lld has already ended (%s)", (long long)id,
                               pv_history_state_name(st));
    }
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    json_t *o =
        pv_history_get(s->history, id, false, &r, &err) == 0 ? pv_serve__run_json(&r, false) : NULL;
    pv_history_run_fini(&r);
    return pv_serve__json(c, (unsigned)status, o);
}

static enum MHD_Result report_html(pv_serve *s, struct MHD_Connection *c, int64_t id)
{
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    int rc = pv_history_get(s->history, id, true, &r, &err);
    if (rc != 0)
        return history_error(c, rc, &err);
    enum MHD_Result ret;
    if (!r.report) {
        ret = pv_serve__error(c, 409, "run %lld has no report (it is %s)", (long long)id,
                              pv_history_state_name(r.state));
    } else {
        char title[300];
        snprintf(title, sizeof(title), "pgvolley run %lld%s%s", (long long)id,
                 r.name && *r.name ? ": " : "", r.name ? r.name : "");
        pv_buf out = PV_BUF_INIT;
        rc = pv_report_html(r.report, title, &out, &err);
        ret = rc == 0
                  ? pv_serve__respond(c, 200, "text/html; charset=utf-8", out.data, out.len, NULL,
                                      NULL)
                  : pv_serve__error(c, 500, "%s", rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
        pv_buf_fini(&out);
    }
    pv_history_run_fini(&r);
    return ret;
}

/* ---- /api/compare ------------------------------------------------------ */

/* Run id's report, parsed, in *out. @return 0, or the answer was queued. */
static enum MHD_Result load_report(pv_serve *s, struct MHD_Connection *c, const char *which,
                                   json_t **out, bool *answered)
{
    *answered = true;
    const char *v = arg(c, which);
    int64_t id = v ? parse_id(v, strlen(v)) : 0;
    if (!id)
        return pv_serve__error(c, 400, "%s: a run id", which);
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    int rc = pv_history_get(s->history, id, true, &r, &err);
    if (rc != 0)
        return history_error(c, rc, &err);
    *out = r.report ? json_loads(r.report, 0, NULL) : NULL;
    enum pv_history_state st = r.state;
    pv_history_run_fini(&r);
    if (!*out)
        return pv_serve__error(c, 409, "%s: run %lld has no report (it is %s)", which,
                               (long long)id, pv_history_state_name(st));
    *answered = false;
    return MHD_YES;
}

static enum MHD_Result compare(pv_serve *s, struct MHD_Connection *c)
{
    double pct = PV_COMPARE_DEFAULT_PCT;
    if (arg(c, "max_regression") && !parse_num(arg(c, "max_regression"), 0, 1e6, &pct))
        return pv_serve__error(c, 400, "max_regression: a percentage, 0 or more");
    json_t *base = NULL, *new_ = NULL;
    bool answered;
    enum MHD_Result ret = load_report(s, c, "base", &base, &answered);
    if (answered)
        return ret;
    ret = load_report(s, c, "new", &new_, &answered);
    if (answered) {
        json_decref(base);
        return ret;
    }
    char bname[64], nname[64];
    snprintf(bname, sizeof(bname), "run %s", arg(c, "base"));
    snprintf(nname, sizeof(nname), "run %s", arg(c, "new"));
    pv_compare *cmp = NULL;
    pv_err err = {{0}};
    int rc = pv_compare_json(base, bname, new_, nname, pct, &cmp, &err);
    pv_buf out = PV_BUF_INIT;
    if (rc == 0)
        rc = pv_compare_write(cmp, PV_COMPARE_JSON, &out);
    if (rc == 0)
        ret = pv_serve__respond(c, 200, "application/json", out.data, out.len, NULL, NULL);
    else
        ret = pv_serve__error(c, rc == VOLLEY_EINPUT ? 400 : 500, "%s",
                              rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
    pv_buf_fini(&out);
    pv_compare_destroy(cmp);
    json_decref(base);
    json_decref(new_);
    return ret;
}

/* ---- the router -------------------------------------------------------- */

static enum MHD_Result not_allowed(struct MHD_Connection *c, const char *allow)
{
    char body[160];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"status\":405,\"message\":\"Method Not Allowed: %s\"}}", allow);
    return pv_serve__respond(c, 405, "application/json", body, (size_t)n, MHD_HTTP_HEADER_ALLOW,
                             allow);
}

static bool is(const char *method, const char *m)
{
    return strcmp(method, m) == 0;
}

/* /api/runs/{id}[/tail] */
static enum MHD_Result route_run(pv_serve *s, struct MHD_Connection *c, const char *method,
                                 const char *rest)
{
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    int64_t id = parse_id(rest, idlen);
    if (!id)
        return pv_serve__error(c, 404, "Not Found: no such route");
    const char *tail = slash ? slash : "";
    if (!*tail) {
        if (is(method, "GET"))
            return get_run(s, c, id);
        if (is(method, "DELETE"))
            return delete_run(s, c, id);
        return not_allowed(c, "GET, DELETE");
    }
    if (strcmp(tail, "/cancel") == 0)
        return is(method, "POST") ? cancel_run(s, c, id) : not_allowed(c, "POST");
    if (strcmp(tail, "/events") == 0)
        return is(method, "GET") ? pv_serve__events(s, c, id) : not_allowed(c, "GET");
    if (strcmp(tail, "/report.html") == 0)
        return is(method, "GET") ? report_html(s, c, id) : not_allowed(c, "GET");
    return pv_serve__error(c, 404, "Not Found: no such route");
}

enum MHD_Result pv_serve__route(pv_serve *s, struct MHD_Connection *c, const char *method,
                                const char *url, const char *body, size_t len)
{
    if (pv_serve__is_ui(method, url))
        return pv_serve__ui(c, url);
    if (strcmp(url, "/") == 0)
        return not_allowed(c, "GET"); /* GET /: the dashboard, above */
    if (strcmp(url, "/api/openapi.json") == 0) {
        size_t n;
        const char *doc = pv_serve__openapi(&n);
        return is(method, "GET") ? pv_serve__respond(c, 200, "application/json", doc, n, NULL, NULL)
                                 : not_allowed(c, "GET");
    }
    if (strcmp(url, "/api/login") == 0)
        return is(method, "POST") ? pv_serve__login(s, c, body, len) : not_allowed(c, "POST");
    if (strcmp(url, "/api/logout") == 0)
        return is(method, "POST") ? pv_serve__logout(s, c) : not_allowed(c, "POST");
    if (strcmp(url, "/api/targets") == 0)
        return is(method, "GET") ? get_targets(s, c) : not_allowed(c, "GET");
    if (strcmp(url, "/api/preview") == 0)
        return is(method, "POST") ? preview(s, c, body, len) : not_allowed(c, "POST");
    if (strcmp(url, "/api/workload-files") == 0)
        return is(method, "GET") ? pv_serve__json(c, 200, s->runner->workload_files(s->runner->arg))
                                 : not_allowed(c, "GET");
    if (strcmp(url, "/api/compare") == 0)
        return is(method, "GET") ? compare(s, c) : not_allowed(c, "GET");
    if (strcmp(url, "/api/runs") == 0) {
        if (is(method, "GET"))
            return get_runs(s, c);
        if (is(method, "POST"))
            return post_runs(s, c, body, len);
        if (is(method, "DELETE"))
            return prune_runs(s, c);
        return not_allowed(c, "GET, POST, DELETE");
    }
    if (strncmp(url, "/api/runs/", 10) == 0)
        return route_run(s, c, method, url + 10);
    return pv_serve__error(c, 404, "Not Found: no such route");
}
