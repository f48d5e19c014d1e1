/* pv_serve_openapi.c - the OpenAPI 3.1 document of `pgvolley serve`
   (GET /api/openapi.json): web/serve/openapi.json, embedded at build time
   (cmake/PvEmbed.cmake). tests/integration/test_serve.py checks it against
   the routes the server answers; docs/serve.md follows it. */
#include "web/pv_serve_int.h"

#include "pv_serve_assets.h"

const char *pv_serve__openapi(size_t *len)
{
    *len = pv_serve_openapi_json_LEN;
    return (const char *)pv_serve_openapi_json;
}
