/* The node history (see store/nodes.h). */
#include "store/nodes.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int store_node_report_add(struct store *st, const struct store_node_report *r, int64_t *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !r || !r->hostname || !*r->hostname || !r->cluster || !r->phase || !r->output)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = exec_sql(st->db, "node_report_begin", "BEGIN IMMEDIATE");
	if (rc)
		goto out;
	rc = prepare(st->db, "node_report_add",
		     "INSERT INTO node_reports(hostname, cluster, phase, ok, kubelet_version, output, received)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, r->hostname, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, r->cluster, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, r->phase, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 4, r->ok ? 1 : 0);
		sqlite3_bind_text(stmt, 5, r->kubelet_version ? r->kubelet_version : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 6, r->output, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 7, r->received);
		rc = step_done(st->db, "node_report_add", stmt);
	}
	if (rc == VIVA_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	stmt = NULL;
	/* keep the newest NODE_REPORTS_KEPT of this host */
	if (rc == VIVA_OK)
		rc = prepare(st->db, "node_report_prune",
			     "DELETE FROM node_reports WHERE hostname = ?1 AND id NOT IN"
			     " (SELECT id FROM node_reports WHERE hostname = ?1 ORDER BY id DESC LIMIT ?2)", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, r->hostname, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 2, NODE_REPORTS_KEPT);
		rc = step_done(st->db, "node_report_prune", stmt);
	}
	sqlite3_finalize(stmt);
	if (rc == VIVA_OK)
		rc = exec_sql(st->db, "node_report_commit", "COMMIT");
	if (rc)
		exec_sql(st->db, "node_report_rollback", "ROLLBACK");
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void store_node_reports_free(struct store_node_report *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].hostname);
		free(v[i].cluster);
		free(v[i].phase);
		free(v[i].kubelet_version);
		free(v[i].output);
	}
	free(v);
}

int store_node_reports(struct store *st, const char *hostname, int limit, struct store_node_report **out,
		       size_t *n)
{
	struct store_node_report *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || !hostname || limit <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_reports",
		     "SELECT id, hostname, cluster, phase, ok, kubelet_version, output, received FROM node_reports"
		     " WHERE hostname = ?1 ORDER BY id DESC LIMIT ?2", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, limit);
	v = xcalloc((size_t)limit, sizeof(*v));
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		v[len].id = sqlite3_column_int64(stmt, 0);
		v[len].hostname = col_dup(stmt, 1);
		v[len].cluster = col_dup(stmt, 2);
		v[len].phase = col_dup(stmt, 3);
		v[len].ok = sqlite3_column_int(stmt, 4) != 0;
		v[len].kubelet_version = col_dup(stmt, 5);
		v[len].output = col_dup(stmt, 6);
		v[len].received = sqlite3_column_int64(stmt, 7);
		len++;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(st->db, "node_reports", src);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	if (rc) {
		store_node_reports_free(v, len);
		return rc;
	}
	*out = v;
	*n = len;
	return VIVA_OK;
}

/* ---- rolling upgrades ------------------------------------------------------------ */

int store_node_upgrade_want(struct store *st, const char *hostname, int64_t run_id, const char *version,
			    int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !hostname || !*hostname || !version)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_upgrade_want",
		     "INSERT INTO node_upgrades(hostname, run_id, wanted_version, since) VALUES (?1, ?2, ?3, ?4)"
		     " ON CONFLICT(hostname) DO UPDATE SET run_id = ?2, wanted_version = ?3, since = ?4", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, hostname, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, run_id);
		sqlite3_bind_text(stmt, 3, version, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, now);
		rc = step_done(st->db, "node_upgrade_want", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_upgrade_get(struct store *st, const char *hostname, int64_t *run_id, char **version)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (version)
		*version = NULL;
	if (!st || !hostname)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_upgrade_get",
		     "SELECT run_id, wanted_version FROM node_upgrades WHERE hostname = ?1", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, hostname, -1, SQLITE_STATIC);
		src = sqlite3_step(stmt);
		if (src == SQLITE_ROW) {
			if (run_id)
				*run_id = sqlite3_column_int64(stmt, 0);
			if (version)
				*version = col_dup(stmt, 1);
		} else {
			rc = src == SQLITE_DONE ? VIVA_ENOENT : db_fail(st->db, "node_upgrade_get", src);
		}
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_upgrade_clear(struct store *st, const char *hostname)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !hostname)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_upgrade_clear", "DELETE FROM node_upgrades WHERE hostname = ?1", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, hostname, -1, SQLITE_STATIC);
		rc = step_done(st->db, "node_upgrade_clear", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_upgrade_stop(struct store *st, int64_t run_id, const char *by, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !by)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_upgrade_stop",
		     "INSERT OR IGNORE INTO node_upgrade_stops(run_id, by, at) VALUES (?1, ?2, ?3)", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_int64(stmt, 1, run_id);
		sqlite3_bind_text(stmt, 2, by, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, now);
		rc = step_done(st->db, "node_upgrade_stop", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_upgrade_stopped(struct store *st, int64_t run_id, char **by)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (by)
		*by = NULL;
	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "node_upgrade_stopped", "SELECT by FROM node_upgrade_stops WHERE run_id = ?1", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_int64(stmt, 1, run_id);
		src = sqlite3_step(stmt);
		if (src == SQLITE_ROW) {
			if (by)
				*by = col_dup(stmt, 0);
		} else {
			rc = src == SQLITE_DONE ? VIVA_ENOENT : db_fail(st->db, "node_upgrade_stopped", src);
		}
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
