#ifndef VIVA_BOT_CLIENTS_PROM_H
#define VIVA_BOT_CLIENTS_PROM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The Prometheus HTTP API (SPEC sections 8 and 9), on the shared HTTP layer
 * (bot/clients/http.h): /api/v1/query and /api/v1/query_range, always with
 * an explicit evaluation time (time=, or start/end/step) so that an answer
 * never depends on when Prometheus evaluates it, sent as POST form bodies
 * (application/x-www-form-urlencoded: a long query never meets a URL
 * limit). Basic auth (PROMETHEUS_USER / PROMETHEUS_PASSWORD) or a bearer
 * token (PROMETHEUS_TOKEN), for Prometheus behind a proxy, Thanos or Mimir.
 *
 * Errors: every call returns 0 or a negative viva_err and leaves one line
 * for a person in prom_last_error() (per thread), naming Prometheus and its
 * URL, never a credential:
 *   VIVA_EINVAL    errorType bad_data (the query is wrong: Prometheus's words)
 *   VIVA_ETIMEOUT  errorType timeout, or no answer in time
 *   VIVA_EREMOTE   errorType execution (or another), an answer that is not
 *                  the API's JSON, an HTTP error without one
 *   VIVA_EAUTH     401 / 403
 *   VIVA_EUNAVAIL  not reachable (connection refused, DNS), 502/503/504
 *   VIVA_ERANGE    an answer larger than max_bytes
 *   VIVA_EBUSY     429, or max_concurrent queries already waiting (nothing sent)
 *   VIVA_EINVAL    also: arguments viva will not send (no query, step <= 0,
 *                  end before start, more than 11,000 steps a series)
 * Warnings (status "success" with "warnings") are kept in the result.
 *
 * A query is sent once: a Prometheus that timed out (its 503) would only
 * time out again, so the HTTP layer retries only a connection that could
 * not be made (nothing was sent) and a 429.
 */
struct viva_config;

enum prom_type { PROM_VECTOR, PROM_MATRIX, PROM_SCALAR, PROM_STRING };

struct prom_point {
	double t;                /* unix seconds */
	double v;                /* NaN and +-Inf as Prometheus sends them ("NaN", "+Inf") */
};

struct prom_series {
	json_t *labels;          /* the metric's labels: an object of strings (never NULL) */
	struct prom_point value; /* vector, scalar (labels empty), string (v NaN: see text) */
	struct prom_point *points;   /* matrix: in time order */
	size_t npoints;
};

struct prom_result {
	enum prom_type type;
	struct prom_series *series;  /* vector and matrix: one per series; scalar, string: one */
	size_t n;
	char *text;                  /* string results only */
	json_t *warnings;            /* array of strings; empty when none (NULL after a failure) */
};

/* Frees what r holds and leaves it empty (NULL is fine). On failure the
 * calls below leave *out empty, holding nothing: releasing it is harmless,
 * not needed. */
void prom_result_release(struct prom_result *r);
/* The value of label `name` of series s, or NULL. */
const char *prom_label(const struct prom_series *s, const char *name);

struct prom;

struct prom_opts {
	const char *url;         /* http(s)://host:port[/prefix] (a Thanos or Mimir prefix is kept) */
	const char *user, *password;   /* basic auth; both or neither */
	const char *token;       /* bearer; not with user */
	const char *ca_file;     /* may be NULL */
	long timeout_ms;         /* one query, all of it; <= 0: 30000 */
	size_t max_bytes;        /* cap on one answer; 0: 32 MiB */
	int max_concurrent;      /* queries on Prometheus at once (a bulkhead: a hung
				  * Prometheus holds that many workers); 0: no bound */
};

/* NULL with one line in err when the options cannot be used. */
struct prom *prom_new(const struct prom_opts *o, char *err, size_t errlen);
void prom_free(struct prom *p);

/* An instant query evaluated at `at` (unix seconds). */
int prom_query(struct prom *p, const char *promql, int64_t at, struct prom_result *out);
/* viva doctor: GET /-/ready answers 200 (with the client's credentials). */
int prom_ready(struct prom *p);
/* A range query from start to end (unix seconds) every step seconds. */
int prom_query_range(struct prom *p, const char *promql, int64_t start, int64_t end, int64_t step,
		     struct prom_result *out);

/* How many queries this client has sent (tests, benchmarks): every query
 * handed to the HTTP layer, whatever its outcome. */
uint64_t prom_queries_sent(const struct prom *p);
/* How messages name it: "Prometheus at http://host:9090" (borrowed). */
const char *prom_peer(const struct prom *p);

const char *prom_last_error(void);

#endif
