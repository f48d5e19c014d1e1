/* pv_serve_ui.c - the web dashboard of `pgvolley serve`: web/ui/'s page,
   script and styles, with the HTML report's chart code (web/report/) and
   uPlot (web/vendor/uplot/), embedded at build time (cmake/PvEmbed.cmake,
   pv_ui_assets.h) and served from memory. docs/serve-ui.md. */
#include <string.h>

#include "web/pv_serve_int.h"
#include "web/pv_serve_ui.h"

#include "pv_ui_assets.h"

/* Same-origin only: no inline script or style element, no framing, no
   request to any other host; the page draws with canvases and CSSOM styles
   (uPlot), which the policy allows. */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct ui_asset {
    const char *path;
    const char *ctype;
    const unsigned char *data;
    size_t len;
};

static const struct ui_asset assets[] = {
    {"/", "text/html; charset=utf-8", pv_ui_index_html, pv_ui_index_html_LEN},
    {"/ui/app.js", "text/javascript; charset=utf-8", pv_ui_app_js, pv_ui_app_js_LEN},
    {"/ui/app.css", "text/css; charset=utf-8", pv_ui_app_css, pv_ui_app_css_LEN},
    {"/ui/report.js", "text/javascript; charset=utf-8", pv_ui_report_js, pv_ui_report_js_LEN},
    {"/ui/report.css", "text/css; charset=utf-8", pv_ui_report_css, pv_ui_report_css_LEN},
    {"/ui/uplot.js", "text/javascript; charset=utf-8", pv_ui_uplot_js, pv_ui_uplot_js_LEN},
    {"/ui/uplot.css", "text/css; charset=utf-8", pv_ui_uplot_css, pv_ui_uplot_css_LEN},
};

enum MHD_Result pv_serve__ui(struct MHD_Connection *c, const char *url)
{
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
        if (strcmp(url, assets[i].path) == 0)
            return pv_serve__respond(c, 200, assets[i].ctype, (const char *)assets[i].data,
                                     assets[i].len, "Content-Security-Policy", UI_CSP);
    return pv_serve__error(c, 404, "Not Found: no such page");
}
