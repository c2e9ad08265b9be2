/*
 * A client and what it keeps between calls (see http.h, "Connection
 * reuse"): its construction and release, the list of every client for
 * http_trim_all(), the pool of sessions (a curl multi handle with its
 * connection cache and the spare easy handles run on it), and the bulkhead
 * that bounds the callers on one outside system at once.
 */
#include "bot/clients/http.h"
#include "bot/clients/http_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEF_POOL_SIZE           4
#define MAX_POOL_SIZE           64

/* ---- clients and their sessions ---------------------------------------------- */

static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_client *all_clients;

static void session_free(struct session *s)
{
	if (!s)
		return;
	while (s->nspare > 0)
		curl_easy_cleanup(s->spare[--s->nspare]);
	if (s->multi)
		curl_multi_cleanup(s->multi);   /* closes its cached connections */
	free(s);
}

struct session *http_session_get(struct http_client *c, int max_parallel)
{
	struct session *s;

	pthread_mutex_lock(&c->mu);
	s = c->idle;
	if (s) {
		c->idle = s->next;
		c->nidle--;
	}
	pthread_mutex_unlock(&c->mu);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->multi = curl_multi_init();
		if (!s->multi) {
			free(s);
			return NULL;
		}
	}
	s->next = NULL;
	/* open connections kept between calls: one per transfer slot */
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)max_parallel);
	return s;
}

void http_session_put(struct http_client *c, struct session *s)
{
	pthread_mutex_lock(&c->mu);
	if (c->nidle < c->pool_size) {
		s->next = c->idle;
		c->idle = s;
		c->nidle++;
		s = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	session_free(s);   /* beyond the pool: closed (outside the lock) */
}

/* An easy handle for one transfer: a spare one (reset) or a new one. */
CURL *http_session_easy(struct session *s)
{
	CURL *h;

	if (s->nspare > 0) {
		h = s->spare[--s->nspare];
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

void http_session_easy_done(struct session *s, CURL *h)
{
	if (s->nspare < MAX_PARALLEL_CAP)
		s->spare[s->nspare++] = h;
	else
		curl_easy_cleanup(h);
}

void http_client_trim(struct http_client *c)
{
	struct session *s;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	s = c->idle;
	c->idle = NULL;
	c->nidle = 0;
	pthread_mutex_unlock(&c->mu);
	while (s) {
		struct session *next = s->next;
		session_free(s);
		s = next;
	}
}

void http_trim_all(void)
{
	pthread_mutex_lock(&all_mu);
	for (struct http_client *c = all_clients; c; c = c->next_client)
		http_client_trim(c);
	pthread_mutex_unlock(&all_mu);
}

const char *http_client_peer(const struct http_client *c)
{
	return c->peer;
}

/* ---- the bulkhead ------------------------------------------------------------------ */

/* Take a place in the bulkhead, waiting at most queue_wait_ms. */
bool http_bulkhead_enter(struct http_client *c)
{
	struct timespec until;
	bool in = true;

	if (c->max_callers <= 0)
		return true;
	until = timespec_in(CLOCK_REALTIME, c->queue_wait_ms);
	pthread_mutex_lock(&c->mu);
	while (c->callers >= c->max_callers)
		if (pthread_cond_timedwait(&c->place, &c->mu, &until) != 0) {
			in = c->callers < c->max_callers;
			break;
		}
	if (in)
		c->callers++;
	pthread_mutex_unlock(&c->mu);
	return in;
}

void http_bulkhead_leave(struct http_client *c)
{
	if (c->max_callers <= 0)
		return;
	pthread_mutex_lock(&c->mu);
	c->callers--;
	pthread_cond_signal(&c->place);
	pthread_mutex_unlock(&c->mu);
}

/* ---- construction -------------------------------------------------------------------- */

/* scheme://authority of an http(s) URL (caller frees), or NULL. */
static char *origin_of(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return NULL;
	p += 3;
	return xstrndup(url, (size_t)(p - url) + strcspn(p, "/?#"));
}

static bool readable(const char *what, const char *path, const char *name)
{
	if (!path || access(path, R_OK) == 0)
		return true;
	log_error("http client tls file not readable", "client=%s option=%s file=%s errno=%d", name, what,
		  path, errno);
	return false;
}

static char *nonempty_copy(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

struct http_client *http_client_new(const struct http_client_opts *o)
{
	struct http_client *c;
	const struct http_tls *t;
	CURLcode cc;

	if (!o || !o->name || !*o->name) {
		log_error("http client refused", "reason=%s", "no name");
		return NULL;
	}
	t = &o->tls;
	if (o->base_url && (!http_is_http_url(o->base_url) || !http_url_chars_ok(o->base_url) ||
			    strcspn(o->base_url, "?#") != strlen(o->base_url))) {
		/* never log the URL: it may hold a secret */
		log_error("http client refused", "client=%s reason=%s", o->name, "base url is not http(s) without query");
		return NULL;
	}
	if (!readable("ca_file", t->ca_pem ? NULL : t->ca_file, o->name) ||
	    !readable("cert_file", t->cert_pem ? NULL : t->cert_file, o->name) ||
	    !readable("key_file", t->key_pem ? NULL : t->key_file, o->name))
		return NULL;
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		log_error("curl_global_init failed", "error=\"%s\"", curl_easy_strerror(cc));
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(o->name);
	if (o->base_url) {
		size_t n;
		c->base_url = xstrdup(o->base_url);
		n = strlen(c->base_url);
		while (n > 0 && c->base_url[n - 1] == '/')
			c->base_url[--n] = '\0';
	}
	if (o->peer) {
		c->peer = xstrdup(o->peer);
	} else {
		char *origin = c->base_url ? origin_of(c->base_url) : NULL;
		c->peer = origin ? xasprintf("%s at %s", o->name, origin) : xstrdup(o->name);
		free(origin);
	}
	c->tls_hint = nonempty_copy(o->tls_hint);
	c->ca_file = nonempty_copy(t->ca_file);
	c->ca_pem = nonempty_copy(t->ca_pem);
	c->cert_file = nonempty_copy(t->cert_file);
	c->cert_pem = nonempty_copy(t->cert_pem);
	c->key_file = nonempty_copy(t->key_file);
	c->key_pem = nonempty_copy(t->key_pem);
	c->insecure = t->insecure;
	c->pool_size = o->pool_size <= 0 ? DEF_POOL_SIZE : o->pool_size > MAX_POOL_SIZE ? MAX_POOL_SIZE : o->pool_size;
	c->on_attempt = o->on_attempt;
	c->lim = http_normalise_limits(&o->limits);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->place, NULL);
	c->max_callers = o->max_callers > 0 ? o->max_callers : 0;
	c->queue_wait_ms = o->queue_wait_ms > 0 ? o->queue_wait_ms : 2000;
	if (c->insecure)
		log_warn("tls certificate checks are off", "client=%s", c->name);
	pthread_mutex_lock(&all_mu);
	c->next_client = all_clients;
	all_clients = c;
	pthread_mutex_unlock(&all_mu);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&all_mu);
	for (struct http_client **p = &all_clients; *p; p = &(*p)->next_client)
		if (*p == c) {
			*p = c->next_client;
			break;
		}
	pthread_mutex_unlock(&all_mu);
	http_client_trim(c);
	free(c->name);
	free(c->peer);
	free(c->base_url);
	free(c->tls_hint);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->cert_pem);
	free(c->key_file);
	free_secret(c->key_pem);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->place);
	free(c);
	/* libcurl counts inits; this undoes the one in http_client_new() */
	curl_global_cleanup();
}
