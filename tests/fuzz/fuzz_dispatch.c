/*
 * libFuzzer: what users and Slack send. The input is either command text
 * (first byte even) or an interaction payload (first byte odd) and goes
 * through the real dispatcher and handlers, with an in-memory store, the
 * real templates, no registry and a reply sink that only checks the reply is
 * JSON. Any input: no crash, no leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/model/config.h"
#include "bot/ctx.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/reply.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct viva_config cfg;
static struct viva_env env;

static int64_t fixed_now(struct viva_clock *c)
{
	(void)c;
	return 1795554900;
}

static struct viva_clock clk = { .now = fixed_now };

static int sink(struct reply *r, json_t *msg, unsigned flags)
{
	(void)r;
	(void)flags;
	if (!json_is_object(msg))
		abort();
	return VIVA_OK;
}

static int sink_post(struct reply *r, const char *channel, json_t *msg)
{
	(void)channel;
	return sink(r, msg, 0);
}

static int sink_view(struct reply *r, json_t *view)
{
	return sink(r, view, 0);
}

static const struct reply_ops ops = { .send = sink, .post = sink_post, .open_view = sink_view,
				      .view_response = sink_view };

static void setup(void)
{
	char err[256];

	log_set_level(LOG_OFF);
	config_defaults(&cfg);
	free(cfg.pipelines_dir);
	cfg.pipelines_dir = xstrdup("/nonexistent/viva-fuzz");   /* nothing is written */
	env.cfg = &cfg;
	env.clock = &clk;
	if (tmpl_set_load(NULL, &env.tmpl, err, sizeof(err)) != VIVA_OK ||
	    store_open(":memory:", &env.store) != VIVA_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply r = { .ops = &ops };
	struct viva_ctx ctx;
	char *text;

	if (!env.store)
		setup();
	if (size == 0)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = &env;
	ctx.reply = &r;
	ctx.user_id = "U0FUZZ";
	ctx.channel_id = "C0FUZZ";
	ctx.trigger_id = "t";
	if (data[0] % 2 == 0) {
		text = xstrndup((const char *)data + 1, size - 1);
		dispatch_command(&ctx, text);
		free(text);
	} else {
		json_t *p = json_loadb((const char *)data + 1, size - 1, 0, NULL);
		if (p)
			dispatch_interaction(&ctx, p);
		json_decref(p);
	}
	return 0;
}
