/*
 * The recording front for a real Prometheus (see prom_proxy.h), on the
 * small test server of tests/http_front.h.
 */
#include "tests/prom_proxy.h"
#include "tests/http_front.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEF_HANG_MS 10000L

struct promproxy {
	struct http_front *front;
	char *upstream;
	char *want_auth;             /* the Authorization header required, or NULL */
	long hang_ms;
	pthread_mutex_t mu;          /* guards everything below */
	struct promproxy_stats st;
	char *last_form;
	enum promproxy_down down;
	int after;                   /* queries still answered before going down */
	long canned_status;          /* 0: forward */
	char *canned_headers;
	struct strbuf canned;
};

static bool is_query(const char *path, bool *range)
{
	*range = strcmp(path, "/api/v1/query_range") == 0;
	return *range || strcmp(path, "/api/v1/query") == 0;
}

/* What the query's parameters say (under the lock). */
static void record_query(struct promproxy *p, const struct hf_request *rq, bool range)
{
	const char *ctype = hf_header(rq, "content-type");
	bool post = strcmp(rq->method, "POST") == 0 && ctype &&
		    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0;
	const char *form = post ? rq->body : rq->query;
	char *t = hf_param(form, range ? "start" : "time");
	char *e = range ? hf_param(form, "end") : NULL, *s = range ? hf_param(form, "step") : NULL;

	p->st.queries++;
	p->st.range_queries += range;
	p->st.posts += post;
	if (t && *t && (!range || (e && *e && s && *s)))
		p->st.explicit_time++;
	free(p->last_form);
	p->last_form = xstrdup(form);
	free(t);
	free(e);
	free(s);
}

/* The proxy is down: how this request goes unanswered (under the lock). */
static void down_answer(struct promproxy *p, struct hf_response *rs)
{
	p->st.failed++;
	switch (p->down) {
	case PROMPROXY_UP:
		break;
	case PROMPROXY_REFUSE:   /* accepted before the socket closed: as good as refused */
	case PROMPROXY_CLOSE:
		rs->action = HF_CLOSE;
		break;
	case PROMPROXY_503:
		rs->status = 503;
		sb_adds(&rs->headers, "Content-Type: text/plain; charset=utf-8\r\n");
		sb_adds(&rs->body, "Service Unavailable\n");
		break;
	case PROMPROXY_HANG:
		rs->action = HF_CLOSE;
		rs->delay_ms = p->hang_ms;
		break;
	}
}

static void handle(void *ud, const struct hf_request *rq, struct hf_response *rs)
{
	struct promproxy *p = ud;
	const char *auth = hf_header(rq, "authorization");
	bool range, query = is_query(rq->path, &range), forward = false;

	pthread_mutex_lock(&p->mu);
	p->st.requests++;
	if (auth)
		p->st.with_authorization++;
	snprintf(p->st.last_authorization, sizeof(p->st.last_authorization), "%s", auth ? auth : "");
	if (query)
		record_query(p, rq, range);
	if (p->down != PROMPROXY_UP && p->after == 0) {
		down_answer(p, rs);
		goto out;
	}
	if (p->want_auth && (!auth || strcmp(auth, p->want_auth) != 0)) {
		p->st.unauthorized++;
		rs->status = 401;
		sb_adds(&rs->headers, "Content-Type: text/plain; charset=utf-8\r\n");
		sb_adds(&rs->headers, "WWW-Authenticate: Basic realm=\"prometheus\"\r\n");
		sb_adds(&rs->body, "Unauthorized\n");
		goto out;
	}
	if (query && p->canned_status) {
		rs->status = p->canned_status;
		if (p->canned_headers)
			sb_adds(&rs->headers, p->canned_headers);
		sb_add(&rs->body, p->canned.buf, p->canned.len);
	} else {
		forward = true;
	}
	/* the last query answered before going down */
	if (query && p->down != PROMPROXY_UP && p->after > 0 && --p->after == 0 && p->down == PROMPROXY_REFUSE)
		http_front_refuse(p->front, true);
out:
	pthread_mutex_unlock(&p->mu);
	if (!forward)
		return;
	if (p->upstream) {
		struct timespec t0, t1;
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		http_front_forward(p->upstream, NULL, NULL, rq, NULL, rs);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (query && rs->status != 502) {
			pthread_mutex_lock(&p->mu);
			p->st.forwarded++;
			p->st.forward_ms += ms;
			if (ms > p->st.forward_max_ms)
				p->st.forward_max_ms = ms;
			p->st.answer_bytes += rs->body.len;
			pthread_mutex_unlock(&p->mu);
		}
	} else {
		rs->status = 502;
		sb_adds(&rs->body, "no upstream\n");
	}
}

struct promproxy *promproxy_start(const struct promproxy_opts *o)
{
	struct promproxy *p = xcalloc(1, sizeof(*p));

	p->upstream = xstrdup(o->upstream);
	if (o->token) {
		p->want_auth = xasprintf("Bearer %s", o->token);
	} else if (o->user) {
		p->want_auth = hf_basic(o->user, o->password);
	}
	p->hang_ms = o->hang_ms > 0 ? o->hang_ms : DEF_HANG_MS;
	sb_init(&p->canned);
	pthread_mutex_init(&p->mu, NULL);
	p->front = http_front_start(handle, p);
	if (!p->front) {
		promproxy_stop(p);
		return NULL;
	}
	return p;
}

const char *promproxy_url(const struct promproxy *p)
{
	return http_front_url(p->front);
}

void promproxy_stats(struct promproxy *p, struct promproxy_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}

char *promproxy_last_form(struct promproxy *p)
{
	char *s;

	pthread_mutex_lock(&p->mu);
	s = xstrdup(p->last_form);
	pthread_mutex_unlock(&p->mu);
	return s;
}

void promproxy_go_down(struct promproxy *p, int after, enum promproxy_down how)
{
	pthread_mutex_lock(&p->mu);
	p->down = how;
	p->after = how == PROMPROXY_UP || after < 0 ? 0 : after;
	http_front_refuse(p->front, how == PROMPROXY_REFUSE && p->after == 0);
	pthread_mutex_unlock(&p->mu);
}

void promproxy_set_answer(struct promproxy *p, long status, const char *headers, const char *body, size_t len)
{
	pthread_mutex_lock(&p->mu);
	p->canned_status = status;
	free(p->canned_headers);
	p->canned_headers = xstrdup(headers);
	p->canned.len = 0;
	p->canned.buf[0] = '\0';
	if (body)
		sb_add(&p->canned, body, len);
	pthread_mutex_unlock(&p->mu);
}

void promproxy_stop(struct promproxy *p)
{
	if (!p)
		return;
	http_front_stop(p->front);
	free(p->upstream);
	free_secret(p->want_auth);
	free(p->last_form);
	free(p->canned_headers);
	sb_release(&p->canned);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
