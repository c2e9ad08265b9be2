#include "bot/runtime.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/slack/api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"
#include "bot/timers.h"
#include "store/envelopes.h"
#include "store/outbox.h"

#include <pthread.h>
#include <string.h>

/* Where one request's answers go (strings borrowed or owned, see users). */
struct route {
	const char *response_url;
	const char *channel;
	const char *user;
	const char *message_ts;     /* the message a click came from */
	bool ephemeral;             /* ...and it was ephemeral (chat.update cannot touch it) */
	bool answered_public;       /* this request's last answer (not a replacement) was in_channel */
	int response_url_uses;
};

struct later;

/* Replies for one request, delivered through the Web API. */
struct slack_reply {
	struct reply base;
	struct viva_env *env;
	struct route route;         /* strings borrowed from the payload */
	const char *trigger_id;
	json_t *view_response;      /* what goes in a view_submission's ack */
	struct later *later;        /* answers waiting to be tried again, in order */
};

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* response_url may be used 5 times in 30 minutes (slack-protocol.md section 3). */
#define RESPONSE_URL_MAX_USES 5

static int post_message(struct slack_api *api, const struct route *rt, const char *channel, json_t *msg,
			bool ephemeral)
{
	json_t *args = json_copy(msg), *resp = NULL;   /* shallow: only top-level keys are added */
	int rc;

	json_object_set_new(args, "channel", json_string(channel));
	if (ephemeral)
		json_object_set_new(args, "user", json_string(rt->user ? rt->user : ""));
	rc = slack_call(api, ephemeral ? "chat.postEphemeral" : "chat.postMessage", args, &resp);
	json_decref(args);
	json_decref(resp);
	return rc;
}

static int via_response_url(struct slack_api *api, struct route *rt, json_t *msg, unsigned flags)
{
	json_t *body = json_copy(msg);   /* shallow: only top-level keys are added */
	int rc;

	if (flags & REPLY_REPLACE)
		json_object_set_new(body, "replace_original", json_true());
	else {
		json_object_set_new(body, "replace_original", json_false());
		json_object_set_new(body, "response_type",
				    json_string(flags & REPLY_IN_CHANNEL ? "in_channel" : "ephemeral"));
	}
	rt->response_url_uses++;
	rc = slack_respond(api, rt->response_url, body);
	json_decref(body);
	return rc;
}

/* One attempt at delivering msg along rt, falling back as the route allows. */
static int deliver_once(struct slack_api *api, struct route *rt, json_t *msg, unsigned flags)
{
	int rc = VIVA_EUNAVAIL;
	/*
	 * A replacement with no clicked message replaces this request's own
	 * answer (a listing that fills in as it is read): it keeps that
	 * answer's visibility, so a private one never becomes public.
	 */
	bool own_private = (flags & REPLY_REPLACE) && !rt->message_ts && !rt->answered_public;

	if (!(flags & REPLY_REPLACE))
		rt->answered_public = (flags & REPLY_IN_CHANNEL) != 0;
	if (rt->response_url && *rt->response_url && rt->response_url_uses < RESPONSE_URL_MAX_USES) {
		rc = via_response_url(api, rt, msg, flags);
		if (rc == VIVA_OK)
			return rc;
	}
	/* No usable response_url (expired, used up, scheduled job): post. */
	if ((rt->ephemeral || own_private) && rt->channel && rt->user)
		return post_message(api, rt, rt->channel, msg, true);   /* never make a private page public */
	if ((flags & REPLY_REPLACE) && rt->message_ts && rt->channel) {
		json_t *args = json_copy(msg), *resp = NULL;   /* shallow: only top-level keys are added */
		json_object_set_new(args, "channel", json_string(rt->channel));
		json_object_set_new(args, "ts", json_string(rt->message_ts));
		rc = slack_call(api, "chat.update", args, &resp);
		json_decref(args);
		json_decref(resp);
		if (rc == VIVA_OK)
			return rc;
	}
	if (rt->channel)
		rc = post_message(api, rt, rt->channel, msg,
				  !(flags & (REPLY_IN_CHANNEL | REPLY_REPLACE)) && rt->user);
	return rc;
}

/*
 * Deferred answers. When Slack asks to retry after N seconds (429) or does
 * not answer (an outage), the answer is kept here and tried again from a
 * timer, so no worker sleeps on it: a worker that sleeps is one that cannot
 * answer `/viva help`. Answers of one request keep their order: once one
 * waits, the ones after it queue behind it. They are tried within the
 * response_url's lifetime (30 minutes) with the wait Slack asked for or
 * 1, 2, 4 ... 60 s, then given up, logged and counted. What waits is also
 * kept in the store (store/outbox.h) as it changes, so a restart, after a
 * crash or a stop, sends it on (runtime_resume_deferred). An answer sent
 * just before a crash, whose row was not yet updated, is sent again after
 * the restart: answers are delivered at least once, never dropped while
 * the response_url lives. A store that cannot be written keeps them in
 * memory only (logged).
 */
#define LATER_LIFETIME_S    (29L * 60)
#define LATER_LIFETIME_MS   (LATER_LIFETIME_S * 1000)
#define LATER_RESUME_MAX    1000
#define RESUME_SPACING_MS   10
#define LATER_MAX_TRIES     40
#define LATER_MAX_MSGS      20
#define LATER_MAX_WAIT_MS   60000L

static void later_run(void *arg);
static void later_drop(void *arg);

struct later {
	struct job job;
	struct viva_env *env;
	pthread_mutex_t mu;
	int refs;                   /* the request's sink, and the timer while one is set */
	struct route route;         /* strings owned */
	json_t *msgs;               /* [[msg, flags], ...] oldest first */
	int64_t deadline_ms;        /* monotonic */
	int64_t deadline;           /* the same in unix seconds, for the store */
	int64_t row;                /* its row in the store's outbox, or 0 */
	bool kept;                  /* the row holds what waits now (the last write took) */
	int tries;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* A new entry for answers along rt (strings copied), no reference taken. */
static struct later *later_new(struct viva_env *env, const struct route *rt, int64_t deadline)
{
	struct later *l = xcalloc(1, sizeof(*l));
	int64_t left = deadline - env->clock->now(env->clock);

	/* a row read back is checked first; clamped anyway, never overflowed */
	left = left < 0 ? 0 : left > LATER_LIFETIME_S ? LATER_LIFETIME_S : left;

	pthread_mutex_init(&l->mu, NULL);
	l->env = env;
	l->job = (struct job){ .run = later_run, .drop = later_drop, .arg = l };
	l->route = (struct route){
		.response_url = dup_or_null(rt->response_url),
		.channel = dup_or_null(rt->channel),
		.user = dup_or_null(rt->user),
		.message_ts = dup_or_null(rt->message_ts),
		.ephemeral = rt->ephemeral,
		.answered_public = rt->answered_public,
		.response_url_uses = rt->response_url_uses,
	};
	l->msgs = json_array();
	l->deadline = deadline;
	l->deadline_ms = now_ms_mono() + left * 1000;
	return l;
}

/*
 * Keep what waits in the store (l->mu held), or forget it once nothing
 * does. Slow only when answers are already waiting on Slack.
 */
static void later_persist(struct later *l)
{
	struct store *st = l->env->store;
	json_t *route;
	char *rtext, *mtext;
	int rc;

	if (!st)
		return;
	if (json_array_size(l->msgs) == 0) {
		if (l->row && store_outbox_remove(st, l->row) != VIVA_OK)
			log_warn("delivered answers still in the store; a restart would send them again", "row=%lld",
				 (long long)l->row);
		l->row = 0;
		l->kept = false;
		return;
	}
	route = json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:b, s:i}", "response_url", l->route.response_url,
			  "channel", l->route.channel, "user", l->route.user, "message_ts", l->route.message_ts,
			  "ephemeral", l->route.ephemeral, "answered_public", l->route.answered_public,
			  "response_url_uses", l->route.response_url_uses);
	rtext = json_dumps(route, JSON_COMPACT);
	mtext = json_dumps(l->msgs, JSON_COMPACT);
	/* json_dumps fails only when too deep or out of memory */
	rc = rtext && mtext ? store_outbox_put(st, &l->row, rtext, mtext, l->deadline, l->tries) : VIVA_ERANGE;
	if (rc == VIVA_ENOENT) {   /* the row went (by hand?): write it anew */
		l->row = 0;
		rc = store_outbox_put(st, &l->row, rtext, mtext, l->deadline, l->tries);
	}
	l->kept = rc == VIVA_OK;
	if (rc != VIVA_OK)
		log_warn("deferred answers kept in memory only; a restart would lose them", "err=\"%s\"",
			 viva_strerror(rc));
	free(rtext);
	free(mtext);
	json_decref(route);
}

static void later_free(struct later *l)
{
	pthread_mutex_destroy(&l->mu);
	free((char *)l->route.response_url);
	free((char *)l->route.channel);
	free((char *)l->route.user);
	free((char *)l->route.message_ts);
	json_decref(l->msgs);
	free(l);
}

static void later_unref(struct later *l)
{
	int left;

	pthread_mutex_lock(&l->mu);
	left = --l->refs;
	pthread_mutex_unlock(&l->mu);
	if (left <= 0)
		later_free(l);
}

static bool transient(int rc)
{
	return rc == VIVA_EBUSY || rc == VIVA_EUNAVAIL || rc == VIVA_ETIMEOUT;
}

/* Give up on whatever still waits (l->mu held). */
static void later_give_up(struct later *l, const char *why)
{
	size_t n = json_array_size(l->msgs);

	for (size_t i = 0; i < n; i++)
		metrics_reply("message", VIVA_EUNAVAIL);
	if (n)
		log_warn("deferred answers given up", "count=%zu tries=%d reason=%s user=%s", n, l->tries, why,
			 l->route.user ? l->route.user : "");
	json_array_clear(l->msgs);
}

static long later_wait_ms(int rc, int tries)
{
	long ms;

	if (rc == VIVA_EBUSY)
		ms = slack_retry_after_s() * 1000L;
	else
		ms = 1000L << (tries < 6 ? tries : 6);
	return ms < 1000 ? 1000 : ms > LATER_MAX_WAIT_MS ? LATER_MAX_WAIT_MS : ms;
}

/* Set the timer for l (l->mu held; takes a reference). VIVA_OK or why not. */
static int later_schedule(struct later *l, long wait_ms)
{
	int rc;

	if (!l->env->timers)
		return VIVA_EUNAVAIL;
	if (now_ms_mono() + wait_ms > l->deadline_ms)
		return VIVA_ETIMEOUT;
	l->refs++;
	rc = timers_after(l->env->timers, wait_ms, &l->job);
	if (rc != VIVA_OK)
		l->refs--;
	return rc;
}

/*
 * No timer could be set (src, from later_schedule; l->mu held): past the
 * response_url's lifetime, it is given up; otherwise (viva stops, too many
 * timers) what the store holds waits for the next start, and what it does
 * not is given up.
 */
static void later_park(struct later *l, int src)
{
	if (src == VIVA_ETIMEOUT)
		later_give_up(l, "past_the_response_url_lifetime");
	else if (l->kept)
		log_info("deferred answers kept for the next start", "count=%zu user=%s", json_array_size(l->msgs),
			 l->route.user ? l->route.user : "");
	else
		later_give_up(l, "shutting_down");
}

/* The timer's job, on a worker: send what waits, in order, until one fails. */
static void later_run(void *arg)
{
	struct later *l = arg;
	int src;

	pthread_mutex_lock(&l->mu);
	l->tries++;
	while (json_array_size(l->msgs) > 0) {
		json_t *item = json_incref(json_array_get(l->msgs, 0));
		struct route rt = l->route;   /* its strings live as long as l */
		int rc;

		pthread_mutex_unlock(&l->mu);
		rc = deliver_once(l->env->slack, &rt, json_array_get(item, 0),
				  (unsigned)json_integer_value(json_array_get(item, 1)));
		json_decref(item);
		pthread_mutex_lock(&l->mu);
		/* what the attempt changed (the uses of response_url), kept under the lock */
		l->route.response_url_uses = rt.response_url_uses;
		l->route.answered_public = rt.answered_public;
		if (rc == VIVA_OK) {
			metrics_reply("message", VIVA_OK);
			json_array_remove(l->msgs, 0);
			continue;
		}
		if (!transient(rc)) {
			metrics_reply("message", rc);
			log_warn("deferred answer not delivered", "err=\"%s\"", viva_strerror(rc));
			json_array_remove(l->msgs, 0);
			continue;
		}
		if (l->tries >= LATER_MAX_TRIES)
			later_give_up(l, "too_many_tries");
		else if ((src = later_schedule(l, later_wait_ms(rc, l->tries))) != VIVA_OK)
			later_park(l, src);
		break;
	}
	later_persist(l);
	pthread_mutex_unlock(&l->mu);
	later_unref(l);   /* the timer's reference */
}

/*
 * The timer's job did not run: the queue was full, or viva stops (the
 * timers then refuse new ones). Set another timer if one is taken; else
 * what the store holds waits for the next start.
 */
static void later_drop(void *arg)
{
	struct later *l = arg;
	int src;

	pthread_mutex_lock(&l->mu);
	if (json_array_size(l->msgs) > 0 &&
	    (src = later_schedule(l, later_wait_ms(VIVA_EUNAVAIL, l->tries))) != VIVA_OK) {
		later_park(l, src);
		later_persist(l);
	}
	pthread_mutex_unlock(&l->mu);
	later_unref(l);
}

/*
 * msg could not be delivered now (rc, transient): keep it to try again.
 * VIVA_EDEFERRED when kept, else rc.
 */
static int defer(struct slack_reply *r, json_t *msg, unsigned flags, int rc)
{
	struct later *l = r->later;
	int src;

	if (!r->env->timers)
		return rc;
	if (!l) {
		l = later_new(r->env, &r->route, r->env->clock->now(r->env->clock) + LATER_LIFETIME_S);
		l->refs = 1;   /* the sink's */
		r->later = l;
	}
	pthread_mutex_lock(&l->mu);
	if (json_array_size(l->msgs) >= LATER_MAX_MSGS) {
		pthread_mutex_unlock(&l->mu);
		return rc;
	}
	json_array_append_new(l->msgs, json_pack("[O, i]", msg, (json_int_t)flags));
	if (json_array_size(l->msgs) > 1) {
		/* the timer is set (or its job runs and will send this one too) */
		later_persist(l);
		pthread_mutex_unlock(&l->mu);
		return VIVA_EDEFERRED;
	}
	src = later_schedule(l, later_wait_ms(rc, 0));
	if (src != VIVA_OK)
		json_array_remove(l->msgs, json_array_size(l->msgs) - 1);
	else
		later_persist(l);
	pthread_mutex_unlock(&l->mu);
	if (src == VIVA_OK)
		log_info("answer deferred", "err=\"%s\" user=%s", viva_strerror(rc), r->route.user ? r->route.user : "");
	return src == VIVA_OK ? VIVA_EDEFERRED : rc;
}

/* A row of the outbox as written by later_persist: [[object, flags], ...]. */
static bool msgs_valid(json_t *msgs)
{
	size_t i;
	json_t *item;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0 || json_array_size(msgs) > LATER_MAX_MSGS)
		return false;
	json_array_foreach(msgs, i, item)
		if (json_array_size(item) != 2 || !json_is_object(json_array_get(item, 0)) ||
		    !json_is_integer(json_array_get(item, 1)))
			return false;
	return true;
}

static bool route_valid(json_t *o)
{
	const char *keys[] = { "response_url", "channel", "user", "message_ts" };

	json_t *uses = json_object_get(o, "response_url_uses");

	if (!json_is_object(o) || !json_is_integer(uses) || json_integer_value(uses) < 0 ||
	    json_integer_value(uses) > RESPONSE_URL_MAX_USES)
		return false;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (v && !json_is_string(v) && !json_is_null(v))
			return false;
	}
	return json_is_string(json_object_get(o, "response_url")) || json_is_string(json_object_get(o, "channel"));
}

/* Why a row read back is not resumed, or NULL: it is as viva writes them. */
static const char *resume_refusal(const struct store_outbox_entry *e, json_t *route, json_t *msgs, int64_t now)
{
	if (e->deadline <= now)
		return "past_the_response_url_lifetime";
	if (e->deadline > now + LATER_LIFETIME_S + 60)
		return "unreadable";   /* a deadline no viva writes */
	if (e->tries >= LATER_MAX_TRIES)
		return "too_many_tries";
	if (e->tries < 0 || !route_valid(route) || !msgs_valid(msgs))
		return "unreadable";
	return NULL;
}

int runtime_resume_deferred(struct viva_env *env, size_t *resumed, size_t *dropped)
{
	struct store_outbox_entry *v = NULL;
	size_t n = 0;
	int64_t now;
	int rc;

	*resumed = *dropped = 0;
	if (!env->store || !env->timers)
		return VIVA_EINVAL;
	rc = store_outbox_all(env->store, LATER_RESUME_MAX, &v, &n);
	if (rc != VIVA_OK)
		return rc;
	now = env->clock->now(env->clock);
	for (size_t i = 0; i < n; i++) {
		json_t *ro = json_loads(v[i].route, 0, NULL), *msgs = json_loads(v[i].msgs, 0, NULL);
		const char *why = resume_refusal(&v[i], ro, msgs, now);

		if (!why) {
			struct route rt = {
				.response_url = json_string_value(json_object_get(ro, "response_url")),
				.channel = json_string_value(json_object_get(ro, "channel")),
				.user = json_string_value(json_object_get(ro, "user")),
				.message_ts = json_string_value(json_object_get(ro, "message_ts")),
				.ephemeral = json_is_true(json_object_get(ro, "ephemeral")),
				.answered_public = json_is_true(json_object_get(ro, "answered_public")),
				.response_url_uses = (int)json_integer_value(json_object_get(ro, "response_url_uses")),
			};
			struct later *l = later_new(env, &rt, v[i].deadline);

			json_decref(l->msgs);
			l->msgs = json_incref(msgs);
			l->row = v[i].id;
			l->kept = true;
			l->tries = v[i].tries;
			pthread_mutex_lock(&l->mu);
			/* spread out: a full queue would drop what comes at once */
			rc = later_schedule(l, (long)*resumed * RESUME_SPACING_MS);
			pthread_mutex_unlock(&l->mu);
			if (rc == VIVA_OK) {
				(*resumed)++;
			} else {
				later_free(l);   /* no reference was taken */
				why = "no_timer";
			}
		}
		if (why) {
			size_t lost = json_is_array(msgs) && json_array_size(msgs) ? json_array_size(msgs) : 1;

			for (size_t k = 0; k < lost; k++)
				metrics_reply("message", VIVA_EUNAVAIL);
			*dropped += lost;
			log_warn("deferred answers given up", "count=%zu reason=%s", lost, why);
			store_outbox_remove(env->store, v[i].id);
		}
		json_decref(ro);
		json_decref(msgs);
	}
	if (n == LATER_RESUME_MAX)
		log_warn("more deferred answers than one start resumes; the rest wait for the next",
			 "resumed=%zu", *resumed);
	store_outbox_free(v, n);
	return VIVA_OK;
}

/* Has msg to wait behind answers already deferred? Then it joins them. */
static bool queue_behind(struct slack_reply *r, json_t *msg, unsigned flags)
{
	struct later *l = r->later;
	bool queued = false;

	if (!l)
		return false;
	pthread_mutex_lock(&l->mu);
	if (json_array_size(l->msgs) > 0 && json_array_size(l->msgs) < LATER_MAX_MSGS) {
		json_array_append_new(l->msgs, json_pack("[O, i]", msg, (json_int_t)flags));
		later_persist(l);
		queued = true;
	}
	pthread_mutex_unlock(&l->mu);
	return queued;
}

static int sink_send(struct reply *base, json_t *msg, unsigned flags)
{
	struct slack_reply *r = base->self;
	int rc;

	if (queue_behind(r, msg, flags))
		return VIVA_EDEFERRED;
	rc = deliver_once(r->env->slack, &r->route, msg, flags);
	if (transient(rc))
		rc = defer(r, msg, flags, rc);
	return rc;
}

static int sink_post(struct reply *base, const char *channel, json_t *msg)
{
	struct slack_reply *r = base->self;

	return post_message(r->env->slack, &r->route, channel, msg, false);
}

static int sink_open_view(struct reply *base, json_t *view)
{
	struct slack_reply *r = base->self;
	json_t *args, *resp = NULL;
	int rc;

	if (!r->trigger_id)
		return VIVA_EINVAL;
	args = json_pack("{s:s, s:O}", "trigger_id", r->trigger_id, "view", view);
	rc = slack_call(r->env->slack, "views.open", args, &resp);
	json_decref(args);
	json_decref(resp);
	return rc;
}

static int sink_view_response(struct reply *base, json_t *response)
{
	struct slack_reply *r = base->self;

	json_decref(r->view_response);
	r->view_response = json_incref(response);
	return VIVA_OK;
}

static const struct reply_ops slack_reply_ops = {
	.send = sink_send,
	.post = sink_post,
	.open_view = sink_open_view,
	.view_response = sink_view_response,
};

char *runtime_dedupe_key(const char *envelope_id, const char *type, json_t *payload)
{
	const char *event_id = json_string_value(json_object_get(payload, "event_id"));

	/* Slack re-sends events with a new envelope id; event_id is stable. */
	if (type && strcmp(type, "events_api") == 0 && event_id)
		return xasprintf("event:%s", event_id);
	return xstrdup(envelope_id ? envelope_id : "");
}

/* Where a request's answers go, from its payload (strings borrowed from it). */
static void sink_init(struct slack_reply *r, struct viva_env *env, const char *type, json_t *payload)
{
	memset(r, 0, sizeof(*r));
	r->base.ops = &slack_reply_ops;
	r->base.self = r;
	r->env = env;
	if (type && strcmp(type, "slash_commands") == 0) {
		r->route.response_url = str(payload, "response_url");
		r->route.channel = str(payload, "channel_id");
		r->route.user = str(payload, "user_id");
		r->trigger_id = str(payload, "trigger_id");
	} else if (type && strcmp(type, "interactive") == 0) {
		json_t *container = json_object_get(payload, "container");
		r->route.response_url = str(payload, "response_url");
		r->route.channel = str(json_object_get(payload, "channel"), "id");
		if (!r->route.channel)
			r->route.channel = str(container, "channel_id");
		r->route.user = str(json_object_get(payload, "user"), "id");
		r->trigger_id = str(payload, "trigger_id");
		r->route.message_ts = str(container, "message_ts");
		r->route.ephemeral = json_is_true(json_object_get(container, "is_ephemeral"));
	}
}

/* runtime_channel_reply: only channel posts make sense. */
static int channel_send(struct reply *r, json_t *msg, unsigned flags)
{
	(void)r;
	(void)msg;
	(void)flags;
	log_warn("a reply with nobody to answer (scheduled task, node report)", "hint=use reply_post_template");
	return VIVA_EINVAL;
}

static int channel_post(struct reply *r, const char *channel, json_t *msg)
{
	struct viva_env *env = r->self;
	json_t *args, *resp = NULL;
	int rc;

	if (!env->slack || !channel)
		return VIVA_EUNAVAIL;
	args = json_copy(msg);   /* shallow: only top-level keys are added */
	json_object_set_new(args, "channel", json_string(channel));
	rc = slack_call(env->slack, "chat.postMessage", args, &resp);
	json_decref(args);
	json_decref(resp);
	return rc;
}

static const struct reply_ops channel_ops = { .send = channel_send, .post = channel_post };

void runtime_channel_reply(struct reply *r, struct viva_env *env)
{
	memset(r, 0, sizeof(*r));
	r->ops = &channel_ops;
	r->self = env;
}

struct reply *runtime_reply_new(struct viva_env *env, const char *type, json_t *payload)
{
	struct slack_reply *r = xmalloc(sizeof(*r));

	sink_init(r, env, type, payload);
	return &r->base;
}

void runtime_reply_free(struct reply *base)
{
	struct slack_reply *r;

	if (!base)
		return;
	r = base->self;
	json_decref(r->view_response);
	if (r->later)
		later_unref(r->later);
	free(r);
}

int runtime_run_envelope(struct viva_env *env, const char *envelope_id, const char *type,
			 json_t *payload, json_t **ack_payload)
{
	struct slack_reply r;
	struct viva_ctx ctx;
	char *key = runtime_dedupe_key(envelope_id, type, payload);
	int rc;

	sink_init(&r, env, type, payload);
	if (ack_payload)
		*ack_payload = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.reply = &r.base;
	ctx.user_id = r.route.user;
	ctx.channel_id = r.route.channel;
	ctx.trigger_id = r.trigger_id;
	/* without an id there is nothing to tell a second delivery by */
	rc = *key ? store_envelope_claim(env->store, key, type, env->clock->now(env->clock)) : VIVA_EINVAL;
	if (rc == VIVA_EDUP) {
		metrics_duplicate();
		log_info("duplicate envelope skipped", "type=%s key=%s", type, key);
		goto out;
	}
	if (rc != VIVA_OK) {
		/* Fail closed: what cannot be recorded as seen could run twice. */
		log_error("envelope not recorded; not run", "type=%s key=%s err=\"%s\"", type, key,
			  viva_strerror(rc));
		if (strcmp(type, "events_api") != 0)
			reply_error(&ctx, rc == VIVA_EINVAL ? VIVA_EINVAL : VIVA_EIO, NULL,
				    "viva could not record this request (%s), so it did nothing. Try again in a "
				    "moment.", rc == VIVA_EINVAL ? "it came without an envelope id" : viva_strerror(rc));
		rc = rc == VIVA_EINVAL ? VIVA_EINVAL : VIVA_EIO;
		free(ctx.outcome_detail);
		goto out;
	}
	if (strcmp(type, "slash_commands") == 0) {
		json_t *text = json_object_get(payload, "text");

		/* a NUL would cut the command short: run something else than asked */
		if (json_is_string(text) && strlen(json_string_value(text)) != json_string_length(text))
			rc = reply_error(&ctx, VIVA_EINVAL, NULL, "That command contains a NUL character; "
					 "viva runs nothing from it.");
		else
			rc = dispatch_command(&ctx, json_string_value(text) ? json_string_value(text) : "");
	} else if (strcmp(type, "interactive") == 0) {
		rc = dispatch_interaction(&ctx, payload);
		if (ack_payload && r.view_response) {
			*ack_payload = r.view_response;
			r.view_response = NULL;
		}
	} else {
		log_debug("event ignored", "type=%s", type);
		rc = VIVA_OK;
	}
	free(ctx.outcome_detail);
out:
	json_decref(r.view_response);
	if (r.later)
		later_unref(r.later);
	free(key);
	return rc;
}

void runtime_tell(struct viva_env *env, json_t *payload, const char *text)
{
	const char *url = str(payload, "response_url");
	json_t *msg;

	if (!url || !env->slack)
		return;
	msg = json_pack("{s:s, s:s, s:b}", "text", text, "response_type", "ephemeral", "replace_original", 0);
	if (slack_respond(env->slack, url, msg) != VIVA_OK)
		metrics_reply("message", VIVA_EUNAVAIL);
	json_decref(msg);
}
