#ifndef VIVA_TESTS_PROM_PROXY_H
#define VIVA_TESTS_PROM_PROXY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A recording front for a real Prometheus (tests/prom_fixture.h), run in a
 * thread of the test on the small server of tests/http_front.h:
 *  - counts what comes: requests, queries (/api/v1/query and
 *    /api/v1/query_range), how they were sent (POST form bodies, explicit
 *    time= or start/end/step), and keeps the last query's parameters and
 *    Authorization header;
 *  - times the queries it passes on (Prometheus's time to answer, as seen
 *    from here on a fresh connection, and the answers' size);
 *  - checks credentials like an auth proxy in front of Prometheus: with
 *    user/password (HTTP Basic) or token (Bearer) set, a request without
 *    them gets 401 and is not passed on;
 *  - goes down when the test says, at once or after N more queries were
 *    answered (promproxy_go_down): connections refused, closed without an
 *    answer, 503, or held without an answer;
 *  - answers queries with a canned status and body instead of asking
 *    Prometheus (promproxy_set_answer): malformed and hostile answers.
 * Everything else is passed to Prometheus unchanged. Listens on 127.0.0.1.
 */
enum promproxy_down {
	PROMPROXY_UP = 0,            /* answer */
	PROMPROXY_REFUSE,            /* stop listening: connections are refused */
	PROMPROXY_CLOSE,             /* accept, then close without an answer */
	PROMPROXY_503,               /* 503 with a plain-text body, as a proxy whose upstream is down */
	PROMPROXY_HANG,              /* accept and say nothing for hang_ms, then close */
};

struct promproxy_opts {
	const char *upstream;        /* http://127.0.0.1:PORT of Prometheus; NULL: canned answers only (else 502) */
	const char *user;            /* require HTTP Basic user:password */
	const char *password;
	const char *token;           /* require Authorization: Bearer <token> */
	long hang_ms;                /* PROMPROXY_HANG's silence; 0: 10000 (ended early by promproxy_stop) */
};

struct promproxy_stats {
	int requests;                /* every request that reached the proxy */
	int queries;                 /* requests to /api/v1/query or /api/v1/query_range */
	int range_queries;           /* of which /api/v1/query_range */
	int posts;                   /* queries sent as POST application/x-www-form-urlencoded */
	int explicit_time;           /* instant queries with time=, range queries with start, end and step */
	int unauthorized;            /* 401s sent */
	int with_authorization;      /* requests that carried an Authorization header */
	int failed;                  /* requests not answered because the proxy was down */
	int forwarded;               /* queries passed to Prometheus and answered by it */
	double forward_ms;           /* their time: request sent to Prometheus -> its whole answer read */
	double forward_max_ms;       /* the longest of them */
	size_t answer_bytes;         /* the bodies of their answers */
	char last_authorization[256];/* the last Authorization header, as received ("" when none) */
};

struct promproxy;

struct promproxy *promproxy_start(const struct promproxy_opts *o);  /* NULL on failure */
/* "http://127.0.0.1:PORT" (borrowed). */
const char *promproxy_url(const struct promproxy *p);
void promproxy_stats(struct promproxy *p, struct promproxy_stats *out);
/* The last query's parameters as sent ("query=...&time=..."), a form body or
 * a URL query; NULL when none came (caller frees). Read one with hf_param(). */
char *promproxy_last_form(struct promproxy *p);
/*
 * Go down the way `how` says once `after` more queries have been answered
 * (0: now). PROMPROXY_UP comes back up at once. A refusing proxy listens
 * again on the same port.
 */
void promproxy_go_down(struct promproxy *p, int after, enum promproxy_down how);
/* Answer every query with this status, header lines ("Content-Type:
 * application/json\r\n", or NULL) and body (copied; len bytes) instead of
 * asking Prometheus; status 0: ask Prometheus again. */
void promproxy_set_answer(struct promproxy *p, long status, const char *headers, const char *body, size_t len);
void promproxy_stop(struct promproxy *p);  /* NULL is fine */

#endif
