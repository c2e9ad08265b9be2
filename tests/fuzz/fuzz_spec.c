/* libFuzzer: pipeline spec YAML. Any input: no crash, no leak; a spec that
 * parses must survive its own canonical YAML (spec_to_yaml round trip). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec *s = NULL, *again = NULL;
	struct spec_errors errs, errs2;
	char *yaml;

	log_set_level(LOG_OFF);
	spec_errors_init(&errs, "fuzz.yaml");
	if (spec_parse((const char *)data, size, "fuzz.yaml", &s, &errs) == VIVA_OK) {
		yaml = spec_to_yaml(s);
		spec_errors_init(&errs2, "again.yaml");
		if (spec_parse(yaml, strlen(yaml), "again.yaml", &again, &errs2) != VIVA_OK)
			abort();   /* our own output must parse */
		spec_free(again);
		spec_errors_release(&errs2);
		free(yaml);
	}
	free(spec_errors_format(&errs));
	spec_errors_release(&errs);
	spec_free(s);
	return 0;
}
