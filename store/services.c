/* The service catalog (see store/services.h). */
#include "store/services.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

static void service_from_row(sqlite3_stmt *stmt, struct store_service *sv)
{
	sv->name = col_dup(stmt, 0);
	sv->type = col_dup(stmt, 1);
	sv->spec_yaml = col_dup(stmt, 2);
	sv->spec_json = col_dup(stmt, 3);
	sv->revision = sqlite3_column_int(stmt, 4);
	sv->source = col_dup(stmt, 5);
	sv->created_at = sqlite3_column_int64(stmt, 6);
	sv->updated_at = sqlite3_column_int64(stmt, 7);
	sv->deleted_at = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(stmt, 8);
}

#define SERVICE_COLS "name, type, spec_yaml, spec_json, revision, source, created_at, updated_at, deleted_at"

void store_service_release(struct store_service *sv)
{
	if (!sv)
		return;
	free(sv->name);
	free(sv->type);
	free(sv->spec_yaml);
	free(sv->spec_json);
	free(sv->source);
	memset(sv, 0, sizeof(*sv));
}

void store_services_free(struct store_service *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_service_release(&v[i]);
	free(v);
}

/* The active owner of image other than `except` (may be NULL), or VIVA_ENOENT. */
static int image_owner_locked(struct store *st, const char *image, const char *except, char **name)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*name = NULL;
	rc = prepare_cached(st->db, "service_image_owner",
			    "SELECT name FROM services WHERE image = ?1 AND deleted_at IS NULL"
			    " AND (?2 IS NULL OR name != ?2) ORDER BY created_at, name LIMIT 1",
			    &st->image_owner_stmt, &stmt);
	if (rc)
		return rc;
	sqlite3_bind_text(stmt, 1, image, -1, SQLITE_STATIC);
	if (except)
		sqlite3_bind_text(stmt, 2, except, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*name = col_dup(stmt, 0);
	else if (src == SQLITE_DONE)
		rc = VIVA_ENOENT;
	else
		rc = db_fail(st->db, "service_image_owner", src);
	sqlite3_reset(stmt);   /* cached: release its snapshot, keep it */
	return rc;
}

int store_service_image_owner(struct store *st, const char *image, char **name)
{
	int rc;

	if (!name)
		return VIVA_EINVAL;
	*name = NULL;
	if (!st || !image)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = image_owner_locked(st, image, NULL, name);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int service_get_locked(struct store *st, const char *name, struct store_service *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = prepare_cached(st->db, "service_get", "SELECT " SERVICE_COLS " FROM services WHERE name = ?1",
			    &st->service_get_stmt, &stmt);
	if (rc)
		return rc;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		service_from_row(stmt, out);
	else if (src == SQLITE_DONE)
		rc = VIVA_ENOENT;
	else
		rc = db_fail(st->db, "service_get", src);
	sqlite3_reset(stmt);   /* cached: release its snapshot, keep it */
	return rc;
}

int store_service_get(struct store *st, const char *name, struct store_service *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st || !name)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = service_get_locked(st, name, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_service_put(struct store *st, const struct store_service_put *p, int *revision, bool *changed)
{
	struct store_service cur = { 0 };
	sqlite3_stmt *stmt = NULL;
	int rc, rev = 1;
	bool exists, was_deleted;

	if (!st || !p || !p->name || !p->type || !p->spec_yaml || !p->spec_json || !p->source || !p->author ||
	    p->now <= 0)
		return VIVA_EINVAL;
	if (changed)
		*changed = false;
	pthread_mutex_lock(&st->mu);
	rc = exec_sql(st->db, "service_put", "BEGIN IMMEDIATE");
	if (rc)
		goto out_unlock;
	rc = service_get_locked(st, p->name, &cur);
	if (rc && rc != VIVA_ENOENT)
		goto rollback;
	exists = rc == VIVA_OK;
	was_deleted = exists && cur.deleted_at != 0;
	if (exists && !was_deleted && p->create_only) {
		rc = VIVA_ECONFLICT;
		goto rollback;
	}
	if (p->image) {
		char *owner = NULL;

		rc = image_owner_locked(st, p->image, p->name, &owner);
		if (rc == VIVA_OK) {
			if (p->image_owner)
				*p->image_owner = owner;
			else
				free(owner);
			rc = VIVA_ECONFLICT;
			goto rollback;
		}
		if (rc != VIVA_ENOENT)
			goto rollback;
	}
	if (exists && !was_deleted && strcmp(cur.spec_yaml, p->spec_yaml) == 0) {
		/* Same text: nothing to record (apply is idempotent). */
		rev = cur.revision;
		rc = exec_sql(st->db, "service_put", "COMMIT");
		goto out_unlock;
	}
	if (exists)
		rev = cur.revision + 1;
	rc = prepare(st->db, "service_put",
		     "INSERT INTO services(" SERVICE_COLS ", image) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?7, NULL, ?8)"
		     " ON CONFLICT(name) DO UPDATE SET type = ?2, spec_yaml = ?3, spec_json = ?4,"
		     " revision = ?5, source = ?6, updated_at = ?7, deleted_at = NULL, image = ?8,"
		     " created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE ?9 END", &stmt);
	if (rc)
		goto rollback;
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, p->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, p->spec_yaml, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, p->spec_json, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, rev);
	sqlite3_bind_text(stmt, 6, p->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, p->now);
	sqlite3_bind_int64(stmt, 9, p->born > 0 && p->born < p->now ? p->born : p->now);
	if (p->image)
		sqlite3_bind_text(stmt, 8, p->image, -1, SQLITE_STATIC);
	rc = step_done(st->db, "service_put", stmt);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc)
		goto rollback;
	rc = prepare(st->db, "service_put",
		     "INSERT OR REPLACE INTO service_revisions(name, revision, spec_yaml, author, source, ts)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &stmt);
	if (rc)
		goto rollback;
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, rev);
	sqlite3_bind_text(stmt, 3, p->spec_yaml, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, p->author, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, p->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, p->now);
	rc = step_done(st->db, "service_put", stmt);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc)
		goto rollback;
	rc = exec_sql(st->db, "service_put", "COMMIT");
	if (rc == VIVA_OK && changed)
		*changed = true;
	goto out_unlock;
rollback:
	exec_sql(st->db, "service_put", "ROLLBACK");
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc == VIVA_OK && revision)
		*revision = rev;
	store_service_release(&cur);
	return rc;
}

int store_service_list(struct store *st, bool include_deleted, struct store_service **out, size_t *n)
{
	struct store_service *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0, cap = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_list",
		     "SELECT " SERVICE_COLS " FROM services WHERE ?1 OR deleted_at IS NULL"
		     " ORDER BY type, name", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int(stmt, 1, include_deleted ? 1 : 0);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		service_from_row(stmt, &v[len++]);
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "service_list", src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_services_free(v, len);
	return rc;
}

int store_service_mark_deleted(struct store *st, const char *name, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !name || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_delete",
		     "UPDATE services SET deleted_at = ?2 WHERE name = ?1 AND deleted_at IS NULL", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now);
	rc = step_done(st->db, "service_delete", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ENOENT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_service_revisions(struct store *st, const char *name, int limit,
			    struct store_revision **out, size_t *n)
{
	struct store_revision *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0, cap = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || !name || limit < 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_revisions",
		     "SELECT revision, author, source, ts FROM service_revisions WHERE name = ?1"
		     " ORDER BY revision DESC LIMIT ?2", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, limit);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len].revision = sqlite3_column_int(stmt, 0);
		v[len].author = col_dup(stmt, 1);
		v[len].source = col_dup(stmt, 2);
		v[len].ts = sqlite3_column_int64(stmt, 3);
		len++;
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "service_revisions", src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_revisions_free(v, len);
	return rc;
}

void store_revisions_free(struct store_revision *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].author);
		free(v[i].source);
	}
	free(v);
}
