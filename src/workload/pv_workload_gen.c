/*
 * pv_workload_gen.c - a GENERATE header into a drawn scenario, and drawing
 * the values of one execution of any scenario (pv_scenario_draw and the
 * per-thread scratch).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "workload/pv_workload_int.h"

void pv_workload__source_free(struct pv_param_source *src)
{
    if (!src)
        return;
    free(src->gens);
    free(src->text);
    free(src->cells);
    free(src->query);
    free(src);
}

/* ---- the GENERATE header -------------------------------------------------- */

/* A cursor over the header's value f->text[at, end). */
struct cur {
    const struct file *f;
    size_t at, end;
};

static void skip_space(struct cur *c)
{
    while (c->at < c->end && (c->f->text[c->at] == ' ' || c->f->text[c->at] == '\t'))
        c->at++;
}

static int is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Fails at the cursor, quoting what is there ("end of line" at the end). */
static int fail_here(struct cur *c, const char *expected)
{
    const char *t = c->f->text;
    if (c->at >= c->end)
        return pv_workload__fail_at(c->f, c->at, "expected %s, found the end of the line",
                                    expected);
    size_t n = c->at;
    while (n < c->end && t[n] != ' ' && t[n] != '\t' && t[n] != ',' && t[n] != ')')
        n++;
    if (n == c->at)
        n++;
    int q = pv_workload__quote_len(t + c->at, n - c->at);
    return pv_workload__fail_at(c->f, c->at, "expected %s, not \"%.*s\"", expected, q, t + c->at);
}

/* One argument's text: up to the next ',' or ')' (or the end), trimmed. */
static void arg_span(struct cur *c, size_t *s, size_t *e)
{
    skip_space(c);
    *s = c->at;
    while (c->at < c->end && c->f->text[c->at] != ',' && c->f->text[c->at] != ')')
        c->at++;
    *e = c->at;
    while (*e > *s && (c->f->text[*e - 1] == ' ' || c->f->text[*e - 1] == '\t'))
        (*e)--;
}

/* An integer argument (what: "the lower bound", ...). */
static int parse_int_arg(struct cur *c, const char *what, long long min, long long *out)
{
    size_t s, e;
    arg_span(c, &s, &e);
    const char *t = c->f->text;
    char buf[64];
    int q = pv_workload__quote_len(t + s, e - s);
    if (e == s)
        return pv_workload__fail_at(c->f, s, "expected %s (an integer)", what);
    if (e - s < sizeof(buf)) {
        memcpy(buf, t + s, e - s);
        buf[e - s] = '\0';
        char *endp;
        errno = 0;
        long long v = strtoll(buf, &endp, 10);
        if (*endp == '\0' && (buf[0] == '-' || buf[0] == '+' || (buf[0] >= '0' && buf[0] <= '9'))) {
            if (errno == ERANGE || v < min)
                return pv_workload__fail_at(c->f, s, "%s %.*s is out of range", what, q, t + s);
            *out = v;
            return 0;
        }
    }
    return pv_workload__fail_at(c->f, s, "%s must be an integer, not \"%.*s\"", what, q, t + s);
}

static int parse_num_arg(struct cur *c, double *out)
{
    size_t s, e;
    arg_span(c, &s, &e);
    const char *t = c->f->text;
    char buf[64];
    int q = pv_workload__quote_len(t + s, e - s);
    if (e == s)
        return pv_workload__fail_at(c->f, s, "expected the parameter (a number)");
    if (e - s < sizeof(buf)) {
        memcpy(buf, t + s, e - s);
        buf[e - s] = '\0';
        char *endp;
        double v = strtod(buf, &endp);
        /* digits only: no inf, nan or hexadecimal */
        int plain = strspn(buf, "+-0123456789.eE") == e - s;
        if (*endp == '\0' && plain) {
            *out = v;
            return 0;
        }
    }
    return pv_workload__fail_at(c->f, s, "the parameter must be a number, not \"%.*s\"", q, t + s);
}

/* After an argument: ',' (more to come) or ')' (the last). */
static int arg_sep(struct cur *c, int last)
{
    skip_space(c);
    char want = last ? ')' : ',';
    if (c->at < c->end && c->f->text[c->at] == want) {
        c->at++;
        return 0;
    }
    return fail_here(c, last ? "')' after the last argument" : "','");
}

/* One generator: NAME(ARGS). */
static int parse_one(struct cur *c, struct pv_gen_spec *g)
{
    const char *t = c->f->text;
    skip_space(c);
    size_t s = c->at;
    while (c->at < c->end && is_name_char(t[c->at]))
        c->at++;
    if (c->at == s)
        return fail_here(c, "a generator such as random(1, 100)");
    const struct pv_gen_func *fn = pv_gen_func_lookup(t + s, c->at - s);
    if (!fn) {
        int q = pv_workload__quote_len(t + s, c->at - s);
        return pv_workload__fail_at(c->f, s,
                                    "unknown generator \"%.*s\" (random, random_exponential, "
                                    "random_gaussian, random_zipfian, string)",
                                    q, t + s);
    }
    skip_space(c);
    if (c->at >= c->end || t[c->at] != '(')
        return fail_here(c, "'(' after the generator's name");
    c->at++;
    memset(g, 0, sizeof(*g));
    g->kind = fn->kind;
    long long v;
    int rc;
    if (fn->kind == PV_GEN_STRING) {
        rc = parse_int_arg(c, "the length", 0, &v);
        if (rc == 0) {
            g->len = (size_t)v;
            rc = arg_sep(c, 1);
        }
        goto check;
    }
    rc = parse_int_arg(c, "the lower bound", INT64_MIN, &v);
    if (rc == 0) {
        g->lb = v;
        rc = arg_sep(c, 0);
    }
    if (rc == 0)
        rc = parse_int_arg(c, "the upper bound", INT64_MIN, &v);
    if (rc == 0) {
        g->ub = v;
        rc = arg_sep(c, fn->nargs == 2);
    }
    if (rc == 0 && fn->nargs == 3) {
        rc = parse_num_arg(c, &g->param);
        if (rc == 0)
            rc = arg_sep(c, 1);
    }
check:
    if (rc != 0)
        return rc;
    pv_err e;
    if (pv_gen_check(g, &e) != 0)
        return pv_workload__fail_at(c->f, s, "%s", e.msg);
    return 0;
}

/* {"generate":["random(1, 10)", ...]} */
static char *generate_json(const struct pv_gen_spec *gens, int n)
{
    pv_buf b = PV_BUF_INIT;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        pv_buf_reset(&b);
        pv_gen_describe(&gens[i], &b);
        if (pv_buf_ok(&b) != 0 || !arr || json_array_append_new(arr, json_string(b.data)) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    pv_buf_fini(&b);
    json_t *o = arr ? json_pack("{so}", "generate", arr) : NULL;
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int pv_workload__load_generate(const struct file *f, const struct header *h, struct pv_query *q)
{
    struct cur c = {.f = f, .at = h->value, .end = h->value_end};
    struct pv_gen_spec *gens = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    skip_space(&c);
    size_t first = c.at;
    for (;;) {
        if (pv_workload__grow((void **)&gens, &cap, n + 1, sizeof(*gens)) != 0) {
            rc = pv_workload__oom(f);
            goto fail;
        }
        rc = parse_one(&c, &gens[n]);
        if (rc != 0)
            goto fail;
        n++;
        skip_space(&c);
        if (c.at >= c.end)
            break;
        if (f->text[c.at] != ',') {
            rc = fail_here(&c, "',' between generators");
            goto fail;
        }
        c.at++;
    }
    if (n != (size_t)q->nparams) {
        rc = pv_workload__fail_at(f, first,
                                  "GENERATE gives %zu generator%s but the query has %d "
                                  "placeholder%s",
                                  n, pv_workload__plural((long)n), q->nparams,
                                  pv_workload__plural(q->nparams));
        goto fail;
    }
    struct pv_param_source *src = calloc(1, sizeof(*src));
    if (!src) {
        rc = pv_workload__oom(f);
        goto fail;
    }
    src->nparams = q->nparams;
    src->gens = gens;
    return pv_workload__drawn_scenario(f, q, "generated", src, generate_json(gens, (int)n));
fail:
    free(gens);
    return rc;
}

/* ---- drawing -------------------------------------------------------------- */

bool pv_scenario_is_drawn(const struct pv_scenario *s)
{
    return s->source != NULL;
}

int pv_scenario_draw(const struct pv_scenario *s, pv_gen_rng *rng, pv_buf *scratch,
                     const char **values_out)
{
    const struct pv_param_source *src = s->source;
    if (!src) {
        for (int i = 0; i < s->nparams; i++)
            values_out[i] = s->values[i];
        return 0;
    }
    if (!src->gens) {
        if (src->nrows == 0)
            return VOLLEY_EINVAL; /* a PARAMETERS_QUERY not sampled (pv_workload_check_ready) */
        uint64_t row = (uint64_t)pv_gen_uniform(rng, 0, (int64_t)src->nrows - 1);
        const char *const *cells = src->cells + row * (uint64_t)src->nparams;
        for (int i = 0; i < src->nparams; i++)
            values_out[i] = cells[i];
        return 0;
    }
    pv_buf_reset(scratch);
    for (int i = 0; i < src->nparams; i++)
        pv_gen_append(&src->gens[i], rng, scratch);
    if (pv_buf_ok(scratch) != 0)
        return VOLLEY_ENOMEM;
    /* Each value ends with its NUL; the buffer does not move any more. */
    const char *p = scratch->data;
    for (int i = 0; i < src->nparams; i++) {
        values_out[i] = p;
        p += strlen(p) + 1;
    }
    return 0;
}

void pv_scenario_scratch_init(struct pv_scenario_scratch *x, uint64_t seed, uint64_t stream)
{
    memset(x, 0, sizeof(*x));
    pv_gen_seed(&x->rng, seed, stream);
}

void pv_scenario_scratch_fini(struct pv_scenario_scratch *x)
{
    pv_buf_fini(&x->text);
    free(x->values);
    x->values = NULL;
    x->cap = 0;
}

int pv_scenario_values(const struct pv_scenario *s, struct pv_scenario_scratch *x,
                       const char *const **out)
{
    if (!s->source) {
        *out = (const char *const *)s->values;
        return 0;
    }
    if (s->nparams > x->cap) {
        const char **v = realloc(x->values, (size_t)s->nparams * sizeof(*v));
        if (!v)
            return VOLLEY_ENOMEM;
        x->values = v;
        x->cap = s->nparams;
    }
    int rc = pv_scenario_draw(s, &x->rng, &x->text, x->values);
    if (rc == 0)
        *out = x->values;
    return rc;
}
