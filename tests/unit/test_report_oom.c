/*
 * test_report_oom.c - reports of a run with many scenarios: the streamed
 * JSON is jansson's whole-tree layout byte for byte, and when memory runs
 * out the writers say so and the summary can still be rendered.
 *
 * The out-of-memory case runs in a child process under an address-space
 * limit (setrlimit RLIMIT_AS) a little above what it already uses: the
 * report's text cannot fit, a summary can. It is skipped in a sanitizer
 * build, whose allocator reserves far more address space than it uses and
 * aborts instead of returning NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/pv_report.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Scenarios of the big model, and the address space left to the child above what it uses. */
#define NSCEN       40000
#define MARGIN_MIB  16
#define LONG_PARAMS 300 /* characters of the one string parameter every scenario shares */

/* One query of n scenarios, all sharing one name and one parameter set (so the
   model is small and the report large: about 1 KiB of JSON per scenario). */
struct big {
    struct pv_target_info target;
    struct pv_query q;
    struct pv_scenario *sc;
    struct pv_query_result qr;
    struct pv_run_result run;
    const struct pv_run_result *runs[1];
    struct pv_report rep;
    char params[LONG_PARAMS + 8];
};

static void big_init(struct big *b, size_t n)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->target.host, sizeof(b->target.host), "db \"quoted\" \\ host");
    b->target.port = 5432;
    snprintf(b->target.dbname, sizeof(b->target.dbname), "db\xc3\xa9");
    snprintf(b->target.user, sizeof(b->target.user), "bad\xffuser");
    b->params[0] = '[';
    b->params[1] = '"';
    memset(b->params + 2, 'x', LONG_PARAMS);
    memcpy(b->params + 2 + LONG_PARAMS, "\\n\\t\"]", 7);

    b->sc = calloc(n, sizeof(*b->sc));
    b->qr.scenarios = calloc(n, sizeof(*b->qr.scenarios));
    assert_non_null(b->sc);
    assert_non_null(b->qr.scenarios);
    b->q = (struct pv_query){.path = "dir/q.sql",
                             .name = "q.sql",
                             .sql = "SELECT $1::text\n-- odd \x01 \"text\"",
                             .nparams = 1,
                             .nscenarios = n,
                             .scenarios = b->sc,
                             .exec_count = 1};
    assert_int_equal(pv_stat_init(&b->qr.stat), 0);
    assert_int_equal(pv_stat_init(&b->run.total), 0);
    b->qr.query = &b->q;
    for (size_t i = 0; i < n; i++) {
        b->sc[i] = (struct pv_scenario){
            .name = "scenario_x", .nparams = 1, .params_json = b->params, .exec_count = 1};
        struct pv_scenario_result *sr = &b->qr.scenarios[i];
        sr->scenario = &b->sc[i];
        assert_int_equal(pv_stat_init(&sr->stat), 0);
        if (i % 10 == 9)
            assert_int_equal(pv_stat_fail(&sr->stat, 1000 + i, "57014", "cancel\xc3"), 0);
        else
            assert_int_equal(pv_stat_ok(&sr->stat, 123457 * (i % 97 + 1), 1), 0);
        assert_int_equal(pv_stat_merge(&b->qr.stat, &sr->stat), 0);
    }
    assert_int_equal(pv_stat_merge(&b->run.total, &b->qr.stat), 0);
    b->run.concurrency = 8;
    b->run.threads = 2;
    b->run.pool = (struct pv_pool_config){2, 8, 30, 3600, 10};
    b->run.protocol = PV_PROTOCOL_EXTENDED;
    b->run.pipeline = 1;
    b->run.started_at = 1795433584.0;
    b->run.wall_s = 1.0 / 3.0;
    b->run.nqueries = 1;
    b->run.queries = &b->qr;
    assert_int_equal(pv_hist_create(&b->run.pool_stats.acquire_wait), 0);
    b->runs[0] = &b->run;
    b->rep = (struct pv_report){&b->target, 1, b->runs, false, false, 1795433584.0,
                                0,          0, NULL,    NULL,  NULL};
}

static void big_fini(struct big *b)
{
    for (size_t i = 0; i < b->q.nscenarios; i++)
        pv_stat_fini(&b->qr.scenarios[i].stat);
    pv_stat_fini(&b->qr.stat);
    pv_stat_fini(&b->run.total);
    pv_hist_destroy(b->run.pool_stats.acquire_wait);
    free(b->qr.scenarios);
    free(b->sc);
}

/* The streamed text is what jansson's dump of the whole tree gives: parsed and
   dumped again with the writer's flags, it comes back byte for byte. */
static void test_json_stream_is_jansson_layout(void **state)
{
    (void)state;
    struct big b;
    big_init(&b, 500);
    for (int sweep = 0; sweep < 2; sweep++) {
        const struct pv_run_result *runs[2] = {&b.run, &b.run};
        struct pv_report rep = b.rep;
        if (sweep) {
            rep.runs = runs;
            rep.nruns = 2;
            rep.sweep = true;
            rep.target = NULL;
        }
        pv_buf out = PV_BUF_INIT;
        assert_int_equal(pv_report_json(&rep, &out), 0);
        json_error_t e;
        json_t *root = json_loads(out.data, 0, &e);
        if (!root)
            fail_msg("the report does not parse: %s at line %d", e.text, e.line);
        char *again = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        assert_non_null(again);
        assert_int_equal(out.len, strlen(again) + 1);
        assert_memory_equal(out.data, again, out.len - 1);
        assert_int_equal(out.data[out.len - 1], '\n');
        free(again);
        json_decref(root);
        pv_buf_fini(&out);
    }
    big_fini(&b);
}

/* Bytes of address space in use (VmSize), from /proc/self/statm. */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In the child: exit codes that say which step went wrong. */
enum { CHILD_OK = 0, CHILD_NO_LIMIT = 10, CHILD_JSON_FIT, CHILD_TABLE_FIT, CHILD_SUMMARY_FAILED };

static int child(struct big *b)
{
    size_t used = vm_size();
    struct rlimit rl = {used + (size_t)MARGIN_MIB * 1024 * 1024, RLIM_INFINITY};
    if (used == 0 || setrlimit(RLIMIT_AS, &rl) != 0)
        return CHILD_NO_LIMIT;
    /* the JSON report (about 40 MiB) cannot fit: ENOMEM, not a crash or a short text */
    pv_buf out = PV_BUF_INIT;
    if (pv_report_json(&b->rep, &out) != VOLLEY_ENOMEM)
        return CHILD_JSON_FIT;
    pv_buf_fini(&out);
    /* a Markdown table with the long parameter-free rows would fit or not: either answer
       must be an answer */
    int rc = pv_report_markdown(&b->rep, &out);
    if (rc != 0 && rc != VOLLEY_ENOMEM)
        return CHILD_TABLE_FIT;
    pv_buf_fini(&out);
    /* the summary still can be rendered, and it is the summary */
    if (pv_report_summary(&b->rep, &out) != 0)
        return CHILD_SUMMARY_FAILED;
    const char *s = pv_buf_str(&out);
    if (!strstr(s, "\nTotal ") || !strstr(s, "Executions:      40000 (36000 ok, 4000 failed)") ||
        strstr(s, "scenario_x") || !strstr(s, "57014"))
        return CHILD_SUMMARY_FAILED;
    pv_buf_fini(&out);
    return CHILD_OK;
}

static void test_out_of_memory_keeps_the_summary(void **state)
{
    (void)state;
    if (SANITIZED)
        skip();
    struct big b;
    big_init(&b, NSCEN);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(&b));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    assert_int_equal(WEXITSTATUS(status), CHILD_OK);
    big_fini(&b);
}

/* The summary has no row per scenario, and is the same however many there are. */
static void test_summary_does_not_grow(void **state)
{
    (void)state;
    struct big few, many;
    big_init(&few, 10);
    big_init(&many, 1000);
    pv_buf a = PV_BUF_INIT, t = PV_BUF_INIT;
    assert_int_equal(pv_report_summary(&few.rep, &a), 0);
    assert_int_equal(pv_report_table(&many.rep, &t), 0);
    size_t few_len = a.len;
    pv_buf_reset(&a);
    assert_int_equal(pv_report_summary(&many.rep, &a), 0);
    assert_null(strstr(a.data, "scenario_x"));
    assert_non_null(strstr(t.data, "scenario_x"));
    assert_non_null(strstr(a.data, "Summary\n"));
    assert_true(a.len < 2 * few_len);
    assert_true(t.len > 10 * a.len);
    pv_buf_fini(&a);
    pv_buf_fini(&t);
    big_fini(&few);
    big_fini(&many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_stream_is_jansson_layout),
        cmocka_unit_test(test_out_of_memory_keeps_the_summary),
        cmocka_unit_test(test_summary_does_not_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
