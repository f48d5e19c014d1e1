/*
 * pv_serve_ui.h - the web dashboard of `pgvolley serve` (issue 13, item 4;
 * docs/serve-ui.md): its page and assets, embedded at build time from
 * web/ui/ (and the HTML report's web/report/ and web/vendor/uplot/), served
 * for every GET outside /api/ (internal to src/web/).
 */
#ifndef PV_SERVE_UI_H
#define PV_SERVE_UI_H

#include <microhttpd.h>

/* Answers GET url (a path outside /api/): "/" is the dashboard's page, "/ui/NAME" its scripts and
   styles, with a strict Content-Security-Policy (scripts and styles from the server itself only, no
   inline script, requests to the server itself only); anything else is a 404 in the API's error
   form. */
enum MHD_Result pv_serve__ui(struct MHD_Connection *c, const char *url);

#endif /* PV_SERVE_UI_H */
