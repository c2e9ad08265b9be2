#ifndef VIVA_TESTS_FAKE_NODE_API_H
#define VIVA_TESTS_FAKE_NODE_API_H

#include <jansson.h>

/*
 * A fake of viva's node HTTP API (SPEC 10.3), for the tests of
 * templates/node/bootstrap.sh, on the small test server of
 * tests/http_front.h (127.0.0.1, a port of its own):
 *  - GET /v1/nodes/{host}/bootstrap answers the scripted status and body,
 *    after `fail_n` answers of `fail_status` (503 N times, then 200);
 *  - POST /v1/nodes/{host}/report keeps the body (parsed when it is JSON)
 *    and answers 200, after `fail_n` answers of `fail_status`;
 *  - a request without "Authorization: Bearer <token>" gets 401 with
 *    {"error": ...} and is only counted;
 *  - anything else 404.
 * Every request is logged: {"method", "path", "auth": bool}.
 */
struct fake_node_api;

/* NULL on failure. */
struct fake_node_api *fake_node_api_start(const char *token);
/* "http://127.0.0.1:PORT" (borrowed). */
const char *fake_node_api_url(const struct fake_node_api *f);
/* What GET .../bootstrap answers (body copied; NULL: empty). */
void fake_node_api_set_bootstrap(struct fake_node_api *f, long status, const char *body);
/* The next n bootstraps answer status with {"error": "..."} first. */
void fake_node_api_fail_bootstraps(struct fake_node_api *f, int n, long status);
/* The next n reports answer status first. */
void fake_node_api_fail_reports(struct fake_node_api *f, int n, long status);
/* GETs of bootstrap, POSTs of report received (authorized or not). */
int fake_node_api_bootstraps(struct fake_node_api *f);
int fake_node_api_reports_count(struct fake_node_api *f);
/* The reports accepted (answered 200), in order: [{"host", "raw", "json"
 * (null when not JSON)}] (a new reference). */
json_t *fake_node_api_reports(struct fake_node_api *f);
/* Every request, in order (a new reference). */
json_t *fake_node_api_requests(struct fake_node_api *f);
void fake_node_api_stop(struct fake_node_api *f);  /* NULL is fine */

#endif
