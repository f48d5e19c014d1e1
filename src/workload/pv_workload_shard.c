/* pv_workload_shard.c - one shard of a count-based workload (--shard I/N);
   contract in pv_workload.h. */
#include "workload/pv_workload.h"
#include "workload/pv_workload_int.h"

/* floor(k * n / count) without overflow (n < 2^64, k <= count). */
static uint64_t cut(uint64_t n, int k, int count)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)((u128)n * (unsigned)k / (unsigned)count);
}

int pv_workload_shard(pv_workload *w, int index, int count)
{
    if (count < 1 || index < 0 || index >= count)
        return VOLLEY_EINVAL;
    for (size_t i = 0; i < w->nqueries; i++) {
        struct pv_query *q = w->queries[i];
        for (size_t k = 0; k < q->nscenarios; k++) {
            uint64_t n = q->scenarios[k].exec_count;
            q->scenarios[k].exec_count = cut(n, index + 1, count) - cut(n, index, count);
        }
    }
    return 0;
}
