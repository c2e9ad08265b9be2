#ifndef VIVA_TESTS_HELPERS_H
#define VIVA_TESTS_HELPERS_H

#include <cairo.h>
#include <jansson.h>

#include "bot/model/config.h"
#include "bot/ctx.h"
#include "bot/reply.h"

/*
 * Shared test fixtures: an environment with default configuration, the
 * templates built into viva, an in-memory store, and a reply sink that records
 * every message instead of sending it.
 */
struct test_env {
	struct viva_config cfg;
	struct viva_env env;
	struct reply reply;
	json_t *sent;      /* [{"flags":F, "msg":{...}} or {"post":C,"msg":..} or {"view":..}] */
	int64_t now;       /* the injected clock's time */
	struct viva_clock clock;
};

/* Set up with the built-in templates and a ":memory:" store. */
void test_env_init(struct test_env *t);
void test_env_release(struct test_env *t);

/* A request context for user_id, wired to the recording sink. */
void test_ctx(struct test_env *t, struct viva_ctx *ctx, const char *user_id);

/* Dispatch slash command `text` as user; the text of the newest reply (caller frees). */
char *test_command(struct test_env *t, const char *user, const char *text);

/* The i-th recorded message (borrowed), and its text fallback + all block text joined. */
json_t *test_sent_msg(struct test_env *t, size_t i);
char *test_sent_text(struct test_env *t, size_t i);

/* viva.yaml's clusters and environments, added as config.c would. */
void test_cfg_add_cluster(struct viva_config *cfg, const char *name, const char *kubeconfig);
void test_cfg_add_env(struct viva_config *cfg, const char *name, const char *cluster, const char *ns);
/* Load the catalog from cfg.pipelines_dir (asserts it worked). */
void test_catalog_reload(struct test_env *t);

/* The value at a dotted path ("spec.template.spec.containers.0.image") of o, as
 * text in buf: an integer in decimal, a string as is, else "(none)". */
const char *test_json_path(json_t *o, const char *path, char *buf, size_t len);
/* The object res ns/name of the fake Kubernetes API server has `want` at path (else the test fails). */
struct fake_kube;
void test_kube_expect(struct fake_kube *k, const char *res, const char *ns, const char *name, const char *path,
		      const char *want);
/* The index of the first request of the fake's log (fake_kube_requests) from `from` on with this
 * method, resource and name; -1 if none. */
int test_request_index(json_t *log, const char *method, const char *resource, const char *name, int from);

/* Make a temporary directory (caller frees the string; rm_rf removes it). */
char *test_tmpdir(void);
void test_rm_rf(const char *path);
/* Write a file, creating parent directories. */
void test_write_file(const char *path, const char *content);
/* Decode PNG bytes with cairo (a chart as Slack would get it); the caller
 * destroys the surface and checks cairo_surface_status() (an error
 * surface for bytes that are not a PNG). */
cairo_surface_t *test_png_decode(const void *png, size_t len);
/* Run a command line with /bin/sh, capture stdout+stderr (caller frees); *status = exit code. */
char *test_run(const char *cmdline, int *status);

#endif
