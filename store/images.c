/* Image build times by digest (see store/images.h). */
#include "store/images.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_image_created_get(struct store *st, const char *digest, int64_t *created)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (!st || !digest)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "image_created_get", "SELECT created FROM image_created WHERE digest = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*created = sqlite3_column_int64(stmt, 0);
	else if (src == SQLITE_DONE)
		rc = VIVA_ENOENT;
	else
		rc = db_fail(st->db, "image_created_get", src);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_image_created_put(struct store *st, const char *digest, int64_t created)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !digest)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "image_created_put",
		     "INSERT OR REPLACE INTO image_created(digest, created) VALUES (?1, ?2)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, created);
	rc = step_done(st->db, "image_created_put", stmt);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
