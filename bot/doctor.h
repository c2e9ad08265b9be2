#ifndef VIVA_BOT_DOCTOR_H
#define VIVA_BOT_DOCTOR_H

#include <stdio.h>

#include "bot/model/config.h"

/*
 * `viva doctor` (SPEC section 12): every endpoint the configuration names,
 * checked one by one, each on a line that says ok or what is wrong and how
 * to fix it:
 *   - the store (VIVA_DB): opens and migrates, may be written, is whole;
 *   - Slack: auth.test with SLACK_BOT_TOKEN, apps.connections.open with
 *     SLACK_APP_TOKEN (a Socket Mode URL is asked for, not used);
 *   - each cluster of viva.yaml: /version and every permission viva needs
 *     (bot/k8s/doctor.h), missing ones as RBAC rules to add;
 *   - the registry (REGISTRY_URL): GET /v2/ with viva's credentials;
 *   - Prometheus (PROMETHEUS_URL): /-/ready, then one query.
 * What is not configured is said and skipped. A failed check does not stop
 * the others. Returns 0 when every configured check passed, else 1.
 */
int viva_doctor(const struct viva_config *cfg, FILE *out);

#endif
