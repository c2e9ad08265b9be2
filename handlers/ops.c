/* Durable operations as users see them, and the toy kinds that prove them. */
#include "handlers/ops.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "store/operations.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIST_MAX 15

int cmd_ops(struct viva_ctx *ctx)
{
	struct store_op *v = NULL;
	const char *target = ctx->argc > 0 ? ctx->argv[0] : NULL;
	json_t *rows = json_array(), *data;
	size_t n = 0;
	int rc;

	rc = store_op_list(ctx->env->store, target, LIST_MAX, &v, &n);
	if (rc) {
		json_decref(rows);
		return reply_error(ctx, rc, NULL, "Could not read the operations: %s.", viva_strerror(rc));
	}
	for (size_t i = 0; i < n; i++) {
		const struct op_kind *k = op_kind_lookup(v[i].kind);
		char *who = mrkdwn_user(v[i].started_by), *w = mrkdwn_date(v[i].started);
		json_array_append_new(rows, json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s}",
			"id", (json_int_t)v[i].id, "kind", v[i].kind, "target", v[i].target,
			"state", store_op_state_name(v[i].state), "step", v[i].step + (v[i].state == OP_RUNNING),
			"steps", k ? (int)k->nsteps : 0, "who", who, "when", w,
			"outcome", v[i].outcome ? v[i].outcome : ""));
		free(who);
		free(w);
	}
	data = json_pack("{s:s?, s:b, s:o}", "target", target, "empty", n == 0, "ops", rows);
	rc = reply_template(ctx, "slack/ops_list", data, REPLY_EPHEMERAL);
	json_decref(data);
	store_ops_free(v, n);
	return rc;
}

/* ---- the toy kinds -------------------------------------------------------- */

static int toy_step(struct op *op, const char *name)
{
	const char *dir = json_string_value(json_object_get(op_data(op), "dir"));
	json_int_t ms = json_integer_value(json_object_get(op_data(op), "sleep_ms"));
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	char *mark, *journal;
	int fd, rc = VIVA_OK;

	if (!dir)
		return op_fail(op, VIVA_EINVAL, "the toy operation has no dir");
	op_progress(op, "%s", name);
	if (ms > 0 && ms < 60000)
		nanosleep(&ts, NULL);
	mark = xasprintf("%s/%s", dir, name);
	journal = xasprintf("%s/journal", dir);
	/* the mark makes the step idempotent: a second run leaves no second line */
	fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		FILE *f = fopen(journal, "a");
		close(fd);
		if (!f || fprintf(f, "%s\n", name) < 0)
			rc = op_fail(op, VIVA_EIO, "cannot write %s", journal);
		if (f)
			fclose(f);
	} else if (errno != EEXIST) {
		rc = op_fail(op, VIVA_EIO, "cannot write %s", mark);
	}
	free(mark);
	free(journal);
	return rc;
}

static int toy_one(struct op *op) { return toy_step(op, "one"); }
static int toy_two(struct op *op) { return toy_step(op, "two"); }
static int toy_three(struct op *op) { return toy_step(op, "three"); }

static const struct op_step toy_steps[] = {
	{ "one", toy_one, true },
	{ "two", toy_two, true },
	{ "three", toy_three, true },
};
static const struct op_step toy_unsafe_steps[] = {
	{ "one", toy_one, true },
	{ "two", toy_two, false },
	{ "three", toy_three, true },
};

const struct op_kind op_toy = { "toy", toy_steps, 3 };
const struct op_kind op_toy_unsafe = { "toy-unsafe", toy_unsafe_steps, 3 };
