#ifndef VIVA_BOT_NODES_REPORT_H
#define VIVA_BOT_NODES_REPORT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A node's report (POST /v1/nodes/{host}/report, SPEC 10.3):
 *   {"phase": "join"|"upgrade", "ok": bool, "kubeletVersion": "v1.25.6", "output": "..."}
 * phase and ok are required; kubeletVersion may be absent or empty (a join
 * that failed before kubelet ran), else it looks like "v1.25.6"; output is
 * any text (the command's combined output). Other keys are ignored, so a
 * newer script can say more.
 */
struct node_report {
	char phase[8];            /* "join" | "upgrade" */
	bool ok;
	char kubelet_version[64]; /* "" when not said */
	char *output;             /* the decisive lines only (node_report_decisive); caller frees */
};

/*
 * Parse body (len bytes, any bytes). VIVA_OK, or VIVA_EINVAL with err
 * saying what is wrong in one line (for the 400 answer): not JSON, not an
 * object, a field missing or of the wrong type or form.
 */
int node_report_parse(const char *body, size_t len, struct node_report *out, char *err, size_t errlen);
void node_report_release(struct node_report *r);

/*
 * What of a command's output is worth showing, never the whole of it: for
 * kubeadm the "[ERROR ...]" preflight lines and the "error execution phase"
 * line; when there are none, the last lines (NODE_REPORT_TAIL). Each line is
 * cut at NODE_REPORT_LINE bytes and the whole at NODE_REPORT_MAX; anything
 * shaped like a bootstrap token ("abcdef.0123456789abcdef") is replaced by
 * "<token>", and control characters other than newlines by spaces. The
 * result is plain text (caller frees; "" for no output); the caller escapes
 * it for where it goes.
 */
#define NODE_REPORT_TAIL 8
#define NODE_REPORT_LINE 300
#define NODE_REPORT_MAX 3000
char *node_report_decisive(const char *output);

#endif
