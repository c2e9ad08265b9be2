/*
 * The deploy operations (SPEC section 7; handlers/deploy.c starts them):
 *
 *   deploy-canary     plan, set SVC-canary's image, wait for its rollout
 *   deploy-bluegreen  plan, set the idle colour's image and replicas, wait
 *                     until its rollout is complete, switch Service SVC to
 *                     it (only then, and only if it is ready), keep the old
 *                     colour up for thresholds.rollback_window, scale it to
 *                     zero; that last wait gives the lock back, so a
 *                     rollback or the next deploy may start meanwhile
 *   rollback          plan, scale the other colour back up if it was scaled
 *                     down, wait for it, switch to it
 *
 * Every step can run again after a crash: each reads the cluster before it
 * writes, and a write that is already there changes nothing. A rollout that
 * cannot progress (ProgressDeadlineExceeded) or takes longer than
 * thresholds.deploy_timeout fails, and traffic is never switched.
 */
#include "handlers/deploy.h"
#include "bot/clients/kube.h"
#include "bot/k8s/rollout.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"
#include "bot/model/config.h"
#include "bot/model/tmpl.h"
#include "bot/slack/mrkdwn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS_DEFAULT 1000
#define SWITCH_TRIES    4

/* How often a wait reads the cluster (VIVA_DEPLOY_POLL_MS; tests go faster). */
static long poll_ms(void)
{
	const char *v = getenv("VIVA_DEPLOY_POLL_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	return ms >= 10 && ms <= 60000 ? ms : POLL_MS_DEFAULT;
}

/* ---- what a step sees --------------------------------------------------------------------- */

static const char *dstr(struct op *op, const char *key)
{
	const char *v = json_string_value(json_object_get(op_data(op), key));

	return v ? v : "";
}

static json_int_t dint(struct op *op, const char *key)
{
	return json_integer_value(json_object_get(op_data(op), key));
}

static int64_t now_of(struct op *op)
{
	return op_env(op)->clock->now(op_env(op)->clock);
}

static int kube_of(struct op *op, struct kube **k)
{
	const char *ns = NULL;

	if (!op_env(op)->kube || kube_for_env(op_env(op)->kube, op_env(op)->cfg, dstr(op, "env"), k, &ns) != VIVA_OK)
		return op_fail(op, VIVA_EUNAVAIL, "the cluster of environment %s is not reachable: %s", dstr(op, "env"),
			       op_env(op)->kube ? kube_last_error() : "no cluster is configured");
	return VIVA_OK;
}

static char *slot_name(struct op *op, const char *slot)
{
	return xasprintf("%s-%s", dstr(op, "service"), slot);
}

/* Read slot of the operation's service (its error said through op_fail). */
static int read_slot(struct op *op, struct kube *k, const char *slot, struct k8s_slot *out)
{
	char *name = slot_name(op, slot);
	int rc = k8s_slot_read(k, dstr(op, "namespace"), name, dstr(op, "repo"), out);

	if (rc != VIVA_OK)
		rc = op_fail(op, rc, "%s%s", kube_last_error(),
			     rc == VIVA_ENOENT ? " (`pipeline apply` creates it)" : "");
	free(name);
	return rc;
}

/* The data field for the audit log: service, env, kind, tags, who, operation. */
static void audit_set(struct op *op, const char *key, json_t *v)
{
	json_t *a = json_object_get(op_data(op), "audit");

	if (!json_is_object(a)) {
		a = json_pack("{s:s, s:s, s:I}", "service", dstr(op, "service"), "env", dstr(op, "env"), "operation",
			      (json_int_t)op_id(op));
		json_object_set_new(op_data(op), "audit", a);
	}
	json_object_set_new(a, key, v);
}

/*
 * Wait until slot's rollout is complete: VIVA_OK; a rollout that cannot
 * progress or takes longer than deploy_timeout (from `started`) fails, as
 * does a Deployment that went away. Transient API failures are waited out
 * within the same timeout. Progress goes to the operation's message.
 */
static int wait_rollout(struct op *op, const char *slot, const char *consequence)
{
	const struct viva_config *cfg = op_env(op)->cfg;
	int64_t started = dint(op, "rollout_started");
	char last[160] = "";
	struct kube *k = NULL;
	/* short waits first (a quick rollout is seen at once), growing to the poll interval */
	long poll = poll_ms(), wait = poll < 100 ? poll : 100;
	int64_t mono0 = now_ms_mono();   /* bounds this run in real time too, whatever the clock says */
	int rc = kube_of(op, &k);

	while (rc == VIVA_OK) {
		struct k8s_slot s;
		char *name = slot_name(op, slot);
		int64_t waited = now_of(op) - started;

		rc = k8s_slot_read(k, dstr(op, "namespace"), name, dstr(op, "repo"), &s);
		free(name);
		if (rc == VIVA_OK && s.rollout == K8S_ROLLOUT_COMPLETE) {
			json_object_set_new(op_data(op), "ready", json_sprintf("%ld/%ld", s.available, s.replicas));
			k8s_slot_release(&s);
			return VIVA_OK;
		}
		if (rc == VIVA_OK && s.rollout == K8S_ROLLOUT_STUCK) {
			rc = op_fail(op, VIVA_ETIMEOUT, "the rollout of %s cannot progress: %s. %s", slot, s.progress,
				     consequence);
			k8s_slot_release(&s);
			return rc;
		}
		if (rc == VIVA_OK && strcmp(last, s.progress) != 0) {
			snprintf(last, sizeof(last), "%s", s.progress);
			op_progress(op, "%s: %s…", slot, s.progress);
		} else if (rc != VIVA_OK && rc != VIVA_EUNAVAIL && rc != VIVA_ETIMEOUT && rc != VIVA_EREMOTE &&
			   rc != VIVA_EBUSY) {
			return op_fail(op, rc, "%s. %s", kube_last_error(), consequence);
		} else if (rc != VIVA_OK) {
			log_warn("rollout wait: the API did not answer; waiting on", "op=%lld err=\"%s\"",
				 (long long)op_id(op), kube_last_error());
			snprintf(last, sizeof(last), "%s", kube_last_error());
		}
		if (rc == VIVA_OK)
			k8s_slot_release(&s);
		if (waited > cfg->deploy_timeout_s || now_ms_mono() - mono0 > (int64_t)cfg->deploy_timeout_s * 1000)
			return op_fail(op, VIVA_ETIMEOUT, "%s did not become ready within %d s (%s). %s", slot,
				       cfg->deploy_timeout_s, last[0] ? last : "no answer", consequence);
		if (!op_sleep(op, wait))
			return OP_PAUSED;
		wait = wait * 2 < poll ? wait * 2 : poll;
		rc = VIVA_OK;
	}
	return rc;
}

/*
 * Point Service SVC at slot, once slot is ready: a write that fails is
 * tried again (bounded), and the selector is read back to decide.
 */
static int switch_to(struct op *op, struct kube *k, const char *slot)
{
	const char *ns = dstr(op, "namespace"), *svc = dstr(op, "service");
	struct k8s_slot s;
	char *live = NULL;
	int rc = read_slot(op, k, slot, &s);

	if (rc != VIVA_OK)
		return rc;
	if (s.rollout != K8S_ROLLOUT_COMPLETE || s.available < s.replicas || s.replicas <= 0) {
		rc = op_fail(op, VIVA_ECONFLICT, "%s is not ready (%s, %ld/%ld available), so traffic was not switched",
			     slot, s.progress, s.available, s.replicas);
		k8s_slot_release(&s);
		return rc;
	}
	k8s_slot_release(&s);
	for (int attempt = 0; attempt < SWITCH_TRIES; attempt++) {
		if (attempt > 0 && !op_sleep(op, 500L << attempt)) {
			free(live);
			return OP_PAUSED;
		}
		rc = k8s_switch(k, ns, svc, slot, op_started_by(op), now_of(op));
		free(live);
		live = NULL;
		/* an answer lost is not a write lost: the selector decides */
		if (k8s_live_slot(k, ns, svc, &live, NULL) == VIVA_OK && strcmp(live, slot) == 0) {
			free(live);
			return VIVA_OK;
		}
		if (rc == VIVA_EINVAL || rc == VIVA_EAUTH || rc == VIVA_ENOENT)
			break;
		log_warn("traffic switch not applied; trying again", "op=%lld attempt=%d err=\"%s\"",
			 (long long)op_id(op), attempt + 1, kube_last_error());
	}
	free(live);
	return op_fail(op, rc != VIVA_OK ? rc : VIVA_EREMOTE, "Service %s could not be switched to %s (%s); it still "
		       "selects %s", svc, slot, rc != VIVA_OK ? kube_last_error() : "the write did not hold",
		       dstr(op, "live"));
}

/* ---- messages ---------------------------------------------------------------------------- */

/* The operation's message from a template (text and blocks). */
static void report_template(struct op *op, const char *name, json_t *data)
{
	json_t *msg = NULL;
	char err[256];

	if (tmpl_render(op_env(op)->tmpl, name, data, &msg, err, sizeof(err)) != VIVA_OK) {
		log_error("deploy message not rendered", "template=%s err=\"%s\"", name, err);
		op_report(op, json_string_value(json_object_get(data, "text")), NULL);
		return;
	}
	op_report(op, json_string_value(json_object_get(msg, "text")) ? json_string_value(json_object_get(msg, "text"))
		  : "", json_object_get(msg, "blocks"));
	json_decref(msg);
}

/* The outcome message: text, and a rollback button once traffic moved. */
static void report_outcome(struct op *op, const char *kind, int rc)
{
	char *who = mrkdwn_user(op_started_by(op));
	bool switched = dint(op, "switched_at") > 0;
	char *value = NULL, *text;
	json_t *data;
	int64_t took = (switched ? dint(op, "switched_at") : now_of(op)) - dint(op, "started");

	/* the outcome is viva's words; why may quote the API: escaped */
	char *why = mrkdwn_escape(op_why(op) ? op_why(op) : "no reason given");

	if (rc == VIVA_OK)
		text = xasprintf(":white_check_mark: %s", op_outcome(op) ? op_outcome(op) : "done");
	else if (switched)
		text = xasprintf(":warning: %s (then: %s)", dstr(op, "switched_text"), why);
	else
		text = xasprintf(":x: %s of *%s* in %s failed: %s", kind, dstr(op, "service"), dstr(op, "env"), why);
	free(why);
	if (switched) {
		json_t *v = json_pack("{s:s, s:s}", "svc", dstr(op, "service"), "env", dstr(op, "env"));

		value = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(v);
	}
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I}", "text", text, "who", who, "service",
			 dstr(op, "service"), "env", dstr(op, "env"), "back_to", dstr(op, "live"), "rollback", switched,
			 "value", value ? value : "", "operation", (json_int_t)op_id(op), "seconds",
			 (json_int_t)(took > 0 ? took : 0));
	report_template(op, "slack/deploy_result", data);
	json_decref(data);
	free(value);
	free(text);
	free(who);
}

static void metrics_end(struct op *op, const char *kind, int rc)
{
	int64_t end = dint(op, "switched_at") > 0 ? dint(op, "switched_at") : now_of(op);

	metrics_deploy(kind, rc == VIVA_OK ? "ok" : "failed", end - dint(op, "started"));
}

/* ---- the plan: what runs where now --------------------------------------------------------- */

/* Common to all three: who and when, once (a resumed plan keeps them). */
static bool planned(struct op *op)
{
	if (json_object_get(op_data(op), "planned"))
		return true;
	json_object_set_new(op_data(op), "started", json_integer(now_of(op)));
	return false;
}

/* The colour Service SVC selects now. */
static int read_live(struct op *op, struct kube *k, char **live)
{
	int rc = k8s_live_slot(k, dstr(op, "namespace"), dstr(op, "service"), live, NULL);

	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s", kube_last_error());
	if (!k8s_is_colour(*live)) {
		rc = op_fail(op, VIVA_EINVAL, "Service %s in %s selects no colour (viva/slot is \"%s\"); `pipeline "
			     "apply` sets it up", dstr(op, "service"), dstr(op, "env"), *live);
		free(*live);
		*live = NULL;
	}
	return rc;
}

/* ---- deploy-canary ----------------------------------------------------------------------------- */

static int step_canary_plan(struct op *op)
{
	struct k8s_slot s;
	struct kube *k = NULL;
	int rc;

	if (planned(op))
		return VIVA_OK;
	rc = kube_of(op, &k);
	if (rc == VIVA_OK)
		rc = read_slot(op, k, "canary", &s);
	if (rc != VIVA_OK)
		return rc;
	json_object_set_new(op_data(op), "from_tag", json_string(s.tag));
	json_object_set_new(op_data(op), "container", json_string(s.container));
	json_object_set_new(op_data(op), "canary_replicas", json_integer(s.replicas > 0 ? s.replicas : 1));
	json_object_set_new(op_data(op), "planned", json_true());
	audit_set(op, "kind", json_string("canary"));
	audit_set(op, "from_tag", json_string(s.tag));
	audit_set(op, "to_tag", json_string(dstr(op, "tag")));
	op_progress(op, "canary of %s in %s: %s → %s", dstr(op, "service"), dstr(op, "env"), *s.tag ? s.tag : "none",
		    dstr(op, "tag"));
	k8s_slot_release(&s);
	return VIVA_OK;
}

/* Set slot's image to the operation's tag (and replicas); record when. */
static int set_image(struct op *op, const char *slot, long replicas)
{
	struct kube *k = NULL;
	char *name, *image;
	int rc = kube_of(op, &k);
	struct k8s_slot_set set = { .container = dstr(op, "container"), .tag = dstr(op, "tag"),
				    .deployed_by = op_started_by(op), .replicas = replicas };

	if (rc != VIVA_OK)
		return rc;
	if (!dint(op, "rollout_started"))
		json_object_set_new(op_data(op), "rollout_started", json_integer(now_of(op)));
	set.deployed_at = dint(op, "rollout_started");
	name = slot_name(op, slot);
	image = xasprintf("%s:%s", dstr(op, "repo"), dstr(op, "tag"));
	set.image = image;
	rc = k8s_slot_set(k, dstr(op, "namespace"), name, &set);
	if (rc != VIVA_OK)
		rc = op_fail(op, rc, "%s", kube_last_error());
	free(image);
	free(name);
	return rc;
}

static int step_canary_set(struct op *op)
{
	return set_image(op, "canary", (long)dint(op, "canary_replicas"));
}

static int step_canary_wait(struct op *op)
{
	int rc = wait_rollout(op, "canary", "The canary keeps what it has; live traffic was not touched.");

	if (rc == VIVA_OK) {
		char *who = mrkdwn_user(op_started_by(op));

		op_set_outcome(op, "canary of *%s* in %s runs `%s` (was `%s`), %s ready, deployed by %s",
			       dstr(op, "service"), dstr(op, "env"), dstr(op, "tag"), *dstr(op, "from_tag") ?
			       dstr(op, "from_tag") : "none", dstr(op, "ready"), who);
		audit_set(op, "seconds", json_integer(now_of(op) - dint(op, "started")));
		free(who);
	}
	return rc;
}

static void canary_report(struct op *op, int rc)
{
	metrics_end(op, "canary", rc);
	report_outcome(op, "canary deploy", rc);
}

static const struct op_step canary_steps[] = {
	{ "plan", step_canary_plan, true, false },
	{ "set the canary's image", step_canary_set, true, false },
	{ "wait for the canary", step_canary_wait, true, false },
};
const struct op_kind op_deploy_canary = { "deploy-canary", canary_steps, 3, canary_report };

/* ---- deploy-bluegreen ---------------------------------------------------------------------------- */

static int step_bg_plan(struct op *op)
{
	struct k8s_slot live_s, idle_s;
	struct kube *k = NULL;
	char *live = NULL;
	const char *idle;
	int rc;

	if (planned(op))
		return VIVA_OK;
	rc = kube_of(op, &k);
	if (rc == VIVA_OK)
		rc = read_live(op, k, &live);
	if (rc != VIVA_OK)
		return rc;
	idle = k8s_other_colour(live);
	rc = read_slot(op, k, live, &live_s);
	if (rc != VIVA_OK) {
		free(live);
		return rc;
	}
	rc = read_slot(op, k, idle, &idle_s);
	if (rc != VIVA_OK) {
		k8s_slot_release(&live_s);
		free(live);
		return rc;
	}
	if (!*dstr(op, "tag")) {
		struct k8s_slot c;

		rc = read_slot(op, k, "canary", &c);
		if (rc == VIVA_OK && !*c.tag)
			rc = op_fail(op, VIVA_EINVAL, "the canary of %s in %s has no tag (viva/tag) to take; name one: "
				     "deploy bluegreen %s TAG %s", dstr(op, "service"), dstr(op, "env"), dstr(op, "service"),
				     dstr(op, "env"));
		if (rc == VIVA_OK)
			json_object_set_new(op_data(op), "tag", json_string(c.tag));
		if (rc == VIVA_OK || c.name)
			k8s_slot_release(&c);
	}
	if (rc == VIVA_OK && strcmp(live_s.tag, dstr(op, "tag")) == 0 && live_s.rollout == K8S_ROLLOUT_COMPLETE)
		rc = op_fail(op, VIVA_EINVAL, "%s already runs `%s` on %s (live): nothing to deploy", dstr(op, "service"),
			     dstr(op, "tag"), live);
	if (rc == VIVA_OK) {
		json_object_set_new(op_data(op), "live", json_string(live));
		json_object_set_new(op_data(op), "idle", json_string(idle));
		json_object_set_new(op_data(op), "from_tag", json_string(live_s.tag));
		json_object_set_new(op_data(op), "live_deployed_at", json_integer(live_s.deployed_at));
		json_object_set_new(op_data(op), "container", json_string(idle_s.container));
		json_object_set_new(op_data(op), "planned", json_true());
		audit_set(op, "kind", json_string("bluegreen"));
		audit_set(op, "from_tag", json_string(live_s.tag));
		audit_set(op, "to_tag", json_string(dstr(op, "tag")));
		audit_set(op, "from", json_string(live));
		audit_set(op, "to", json_string(idle));
		op_progress(op, "blue-green of %s in %s to `%s`: %s gets it while %s (live, `%s`) serves", dstr(op, "service"),
			    dstr(op, "env"), dstr(op, "tag"), idle, live, *live_s.tag ? live_s.tag : "untagged");
	}
	k8s_slot_release(&live_s);
	k8s_slot_release(&idle_s);
	free(live);
	return rc;
}

static int step_bg_set(struct op *op)
{
	return set_image(op, dstr(op, "idle"), (long)dint(op, "replicas"));
}

static int step_bg_wait(struct op *op)
{
	char *consequence = xasprintf("Traffic stays on %s; %s is left as it is for a look.", dstr(op, "live"),
				      dstr(op, "idle"));
	int rc = wait_rollout(op, dstr(op, "idle"), consequence);

	free(consequence);
	return rc;
}

static int step_bg_switch(struct op *op)
{
	const struct viva_config *cfg = op_env(op)->cfg;
	struct kube *k = NULL;
	char *who, *text, until[32];
	int rc = kube_of(op, &k);

	if (rc == VIVA_OK)
		rc = switch_to(op, k, dstr(op, "idle"));
	if (rc != VIVA_OK)
		return rc;
	if (!dint(op, "switched_at"))
		json_object_set_new(op_data(op), "switched_at", json_integer(now_of(op)));
	who = mrkdwn_user(op_started_by(op));
	text = xasprintf("*%s* in %s: %s is live with `%s` (was %s with `%s`), by %s in %lld s. %s stays up for "
			 "rollback until %s, then scales to zero.", dstr(op, "service"), dstr(op, "env"),
			 dstr(op, "idle"), dstr(op, "tag"), dstr(op, "live"), dstr(op, "from_tag"), who,
			 (long long)(dint(op, "switched_at") - dint(op, "started")), dstr(op, "live"),
			 k8s_time(dint(op, "switched_at") + cfg->rollback_window_s, until, sizeof(until)));
	json_object_set_new(op_data(op), "switched_text", json_string(text));
	audit_set(op, "seconds", json_integer(dint(op, "switched_at") - dint(op, "started")));
	if (!json_object_get(op_data(op), "counted")) {
		metrics_end(op, "bluegreen", VIVA_OK);
		json_object_set_new(op_data(op), "counted", json_true());
	}
	op_set_outcome(op, "%s", text);
	op_audit(op, op_resumed(op) ? "ok (finished after a restart)" : "ok");
	/* the result, with its rollback button, while the old colour waits */
	report_outcome(op, "blue-green", VIVA_OK);
	free(text);
	free(who);
	return VIVA_OK;
}

/* Keep the old colour for rollback_window, then scale it to zero, unless
 * traffic moved since (a rollback, a newer deploy: theirs to manage). */
static int step_bg_keep(struct op *op)
{
	const struct viva_config *cfg = op_env(op)->cfg;
	int64_t until = dint(op, "switched_at") + cfg->rollback_window_s;
	const char *old = dstr(op, "live");
	char *name = slot_name(op, old), why[256], *base = xstrdup(dstr(op, "switched_text"));
	long poll = poll_ms() * 5;
	struct kube *k = NULL;
	bool done = false;
	int rc = VIVA_OK;
	int64_t mono_end = now_ms_mono() + ((int64_t)cfg->rollback_window_s + 60) * 1000;

	/* until the window ends (bounded in real time too, whatever the clock says) */
	while (now_of(op) < until && now_ms_mono() < mono_end) {
		char *live = NULL;

		if (kube_of(op, &k) == VIVA_OK && k8s_live_slot(k, dstr(op, "namespace"), dstr(op, "service"), &live,
								 NULL) == VIVA_OK && strcmp(live, dstr(op, "idle")) != 0) {
			op_set_outcome(op, "%s Traffic moved to %s since (a rollback or a newer deploy), so %s was left up.",
				       base, live, old);
			free(live);
			goto out;
		}
		free(live);
		if (!op_sleep(op, poll < (until - now_of(op)) * 1000 ? poll : (until - now_of(op)) * 1000 + 10)) {
			rc = OP_PAUSED;
			goto out;
		}
	}
	rc = kube_of(op, &k);
	if (rc == VIVA_OK) {
		rc = k8s_slot_scale_down_if(k, dstr(op, "namespace"), dstr(op, "service"), name, old,
					    dint(op, "live_deployed_at"), &done, why, sizeof(why));
		if (rc != VIVA_OK)
			rc = op_fail(op, rc, "scaling %s to zero after the rollback window: %s", old, kube_last_error());
	}
	if (rc == VIVA_OK) {
		char *line = xasprintf("*%s* in %s: %s is live with `%s` (was %s with `%s`). %s", dstr(op, "service"),
				       dstr(op, "env"), dstr(op, "idle"), dstr(op, "tag"), old, dstr(op, "from_tag"),
				       done ? "" : why);
		if (done)
			op_set_outcome(op, "%s%s scaled to zero after the rollback window; `rollback` still brings it back.",
				       line, old);
		else
			op_set_outcome(op, "%s (nothing scaled down).", line);
		free(line);
	}
out:
	free(base);
	free(name);
	return rc;
}

static void bg_report(struct op *op, int rc)
{
	if (!json_object_get(op_data(op), "counted"))
		metrics_end(op, "bluegreen", rc);
	report_outcome(op, "blue-green", rc);
}

static const struct op_step bluegreen_steps[] = {
	{ "plan", step_bg_plan, true, false },
	{ "set the idle colour's image", step_bg_set, true, false },
	{ "wait for the idle colour", step_bg_wait, true, false },
	{ "switch traffic", step_bg_switch, true, false },
	{ "keep the old colour for rollback", step_bg_keep, true, true },
};
const struct op_kind op_deploy_bluegreen = { "deploy-bluegreen", bluegreen_steps, 5, bg_report };

/* ---- rollback ------------------------------------------------------------------------------------ */

static int step_rb_plan(struct op *op)
{
	struct k8s_slot prev;
	struct kube *k = NULL;
	char *live = NULL;
	int rc;

	if (planned(op))
		return VIVA_OK;
	rc = kube_of(op, &k);
	if (rc == VIVA_OK)
		rc = read_live(op, k, &live);
	if (rc != VIVA_OK)
		return rc;
	rc = read_slot(op, k, k8s_other_colour(live), &prev);
	if (rc == VIVA_OK && !*prev.tag && prev.replicas == 0 && prev.deployed_at == 0)
		rc = op_fail(op, VIVA_EINVAL, "%s has never been deployed: there is nothing to roll back to",
			     k8s_other_colour(live));
	if (rc == VIVA_OK) {
		struct k8s_slot cur;

		json_object_set_new(op_data(op), "live", json_string(live));
		json_object_set_new(op_data(op), "idle", json_string(k8s_other_colour(live)));
		json_object_set_new(op_data(op), "tag", json_string(prev.tag));
		if (read_slot(op, k, live, &cur) == VIVA_OK) {
			json_object_set_new(op_data(op), "from_tag", json_string(cur.tag));
			k8s_slot_release(&cur);
		}
		json_object_set_new(op_data(op), "prev_replicas", json_integer(prev.replicas));
		json_object_set_new(op_data(op), "planned", json_true());
		audit_set(op, "kind", json_string("rollback"));
		audit_set(op, "from_tag", json_string(dstr(op, "from_tag")));
		audit_set(op, "to_tag", json_string(prev.tag));
		audit_set(op, "from", json_string(live));
		audit_set(op, "to", json_string(k8s_other_colour(live)));
		op_progress(op, "rollback of %s in %s: back to %s (`%s`)%s", dstr(op, "service"), dstr(op, "env"),
			    k8s_other_colour(live), prev.tag, prev.replicas < dint(op, "replicas") ? ", scaling it up first" : "");
	}
	if (prev.name)
		k8s_slot_release(&prev);
	free(live);
	return rc;
}

static int step_rb_scale(struct op *op)
{
	struct kube *k = NULL;
	char *name;
	int rc;
	struct k8s_slot_set set = { .replicas = (long)dint(op, "replicas") };

	if (dint(op, "prev_replicas") >= dint(op, "replicas"))
		return VIVA_OK;
	rc = kube_of(op, &k);
	if (rc != VIVA_OK)
		return rc;
	if (!dint(op, "rollout_started"))
		json_object_set_new(op_data(op), "rollout_started", json_integer(now_of(op)));
	name = slot_name(op, dstr(op, "idle"));
	rc = k8s_slot_set(k, dstr(op, "namespace"), name, &set);
	if (rc != VIVA_OK)
		rc = op_fail(op, rc, "%s", kube_last_error());
	free(name);
	return rc;
}

static int step_rb_wait(struct op *op)
{
	char *consequence = xasprintf("Traffic stays on %s.", dstr(op, "live"));
	int rc;

	if (!dint(op, "rollout_started"))
		json_object_set_new(op_data(op), "rollout_started", json_integer(now_of(op)));
	rc = wait_rollout(op, dstr(op, "idle"), consequence);
	free(consequence);
	return rc;
}

static int step_rb_switch(struct op *op)
{
	struct kube *k = NULL;
	char *who;
	int rc = kube_of(op, &k);

	if (rc == VIVA_OK)
		rc = switch_to(op, k, dstr(op, "idle"));
	if (rc != VIVA_OK)
		return rc;
	if (!dint(op, "switched_at"))
		json_object_set_new(op_data(op), "switched_at", json_integer(now_of(op)));
	who = mrkdwn_user(op_started_by(op));
	op_set_outcome(op, "*%s* in %s rolled back by %s: %s is live again with `%s`; %s (`%s`) stays up, and the next "
		       "blue-green deploys over it", dstr(op, "service"), dstr(op, "env"), who, dstr(op, "idle"),
		       dstr(op, "tag"), dstr(op, "live"), dstr(op, "from_tag"));
	json_object_set_new(op_data(op), "switched_text", json_string(op_outcome(op)));
	audit_set(op, "seconds", json_integer(dint(op, "switched_at") - dint(op, "started")));
	free(who);
	return VIVA_OK;
}

static void rb_report(struct op *op, int rc)
{
	metrics_end(op, "rollback", rc);
	report_outcome(op, "rollback", rc);
}

static const struct op_step rollback_steps[] = {
	{ "plan", step_rb_plan, true, false },
	{ "scale the previous colour up", step_rb_scale, true, false },
	{ "wait for the previous colour", step_rb_wait, true, false },
	{ "switch traffic back", step_rb_switch, true, false },
};
const struct op_kind op_rollback = { "rollback", rollback_steps, 4, rb_report };
