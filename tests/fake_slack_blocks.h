#ifndef VIVA_TESTS_FAKE_SLACK_BLOCKS_H
#define VIVA_TESTS_FAKE_SLACK_BLOCKS_H

/*
 * Block Kit validator for the fake Slack server (tests/fake_slack.c).
 *
 * A fake that accepts anything proves nothing, so this checks the limits in
 * /work/shared/slack-protocol.md section 6 and reports problems the way Slack
 * does: one string per problem, "[ERROR] <what> [json-pointer:<where>]",
 * appended to a jansson array (Slack returns them in
 * response_metadata.messages).
 *
 * Where Slack's behaviour is not documented the validator leans strict (for
 * example it rejects properties a block or element does not have), because a
 * bug that the fake lets through reaches real users.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum fsb_surface {
	FSB_MESSAGE,  /* chat.postMessage / update / postEphemeral, response_url, acks */
	FSB_MODAL,    /* views.open / update / push, response_action update/push */
};

/* At most this many messages are reported for one request. */
#define FSB_MAX_MESSAGES 20

/* Serialized size limit of a view, in bytes. */
#define FSB_VIEW_MAX_BYTES 250000

/*
 * Check a "blocks" array for a surface. ptr is the JSON pointer of the array
 * ("/blocks" for a message, "/view/blocks" for a view). Problems are appended
 * to msgs (borrowed; must be a JSON array). Returns the number of problems
 * found (0 = valid). blocks must already be a JSON array.
 */
int fsb_check_blocks(const json_t *blocks, enum fsb_surface surface,
		     const char *ptr, json_t *msgs);

/*
 * Check a modal view object (type, title, submit/close, private_metadata,
 * callback_id, blocks, size). Problems are appended to msgs with pointers
 * under "/view". Returns NULL when valid, else the Slack error code to answer
 * with: "view_too_large" or "invalid_arguments".
 */
const char *fsb_check_view(const json_t *view, json_t *msgs);

/* Number of Unicode code points in a UTF-8 string (Slack counts characters). */
size_t fsb_utf8_len(const char *s);

#endif
