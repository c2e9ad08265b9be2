/* libFuzzer: templates. Input = template JSON, a NUL byte, data JSON. Any
 * input: no crash; a successful render is valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0, size);
	size_t tlen = sep ? (size_t)(sep - data) : size;
	json_t *t = json_loadb((const char *)data, tlen, JSON_DECODE_ANY, NULL);
	json_t *d = sep ? json_loadb((const char *)sep + 1, size - tlen - 1, 0, NULL) : NULL;
	json_t *out = NULL;
	char err[256];

	log_set_level(LOG_OFF);
	if (t && tmpl_render_json("fuzz", t, d, &out, err, sizeof(err)) == VIVA_OK) {
		char *s = json_dumps(out, JSON_ENCODE_ANY);
		if (!s)
			abort();
		free(s);
	}
	json_decref(out);
	json_decref(t);
	json_decref(d);
	return 0;
}
