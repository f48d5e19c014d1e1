/*
 * probe.c - compiled by tests/layering/check.cmake with one area's include
 * path and -DPV_PROBE_HEADER="<area>/<file>.h": it compiles when that
 * header is visible to the area and fails ("No such file or directory")
 * when it is not. Never linked.
 */
#include PV_PROBE_HEADER

int pv_layering_probe(void);
int pv_layering_probe(void)
{
    return 0;
}
