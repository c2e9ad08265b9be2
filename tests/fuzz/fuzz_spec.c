/* libFuzzer: pipeline spec YAML. Any input: no crash, no leak; a spec that
 * parses must survive its own canonical YAML (spec_to_yaml round trip), and
 * must render with the built-in Kubernetes templates in each of its
 * environments, in every form (validation is what keeps rendering safe). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/model/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_all(const struct spec *s)
{
	static struct tmpl_set *ts;
	char err[512];

	if (!ts && tmpl_set_load(NULL, &ts, err, sizeof(err)) != VIVA_OK)
		abort();
	for (size_t i = 0; i < s->nresources; i++) {
		struct render_target t = { .env = s->resources[i].env, .namespace_ = "ns", .cluster = "c" };

		for (int form = RENDER_CREATE; form <= RENDER_SEED; form++) {
			struct render_opts o = { .form = (enum render_form)form, .registry = "r.example:5000",
						 .tag = "1-main-abc", .deployed_by = "U1", .deployed_at = 1 };
			json_t *out = NULL;
			char *text;

			if (render_service(s, &t, ts, &o, &out, err, sizeof(err)) != VIVA_OK)
				abort();   /* a valid spec always renders with the built-ins */
			text = json_dumps(out, JSON_COMPACT);
			if (!text)
				abort();
			free(text);
			json_decref(out);
		}
	}
}

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
		render_all(s);
	}
	free(spec_errors_format(&errs));
	spec_errors_release(&errs);
	spec_free(s);
	return 0;
}
