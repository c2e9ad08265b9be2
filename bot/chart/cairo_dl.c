#include "bot/chart/cairo_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

int cairo_dl_open(const char *soname, struct cairo_api *api, char *err, size_t len)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	memset(api, 0, sizeof(*api));
	if (!h) {
		const char *why = dlerror();
		snprintf(err, len, "cannot load %s: %s", soname, why ? why : "unknown error");
		return -1;
	}
	/* dlsym gives a void *, which POSIX lets us store as a function pointer */
#define VIVA_CAIRO_LOOKUP(name) \
	if (!missing) { \
		void *sym = dlsym(h, "cairo_" #name); \
		if (sym) \
			memcpy(&api->name, &sym, sizeof(sym)); \
		else \
			missing = "cairo_" #name; \
	}
	VIVA_CAIRO_FNS(VIVA_CAIRO_LOOKUP)
#undef VIVA_CAIRO_LOOKUP
	if (missing) {
		snprintf(err, len, "%s has no %s: not the cairo library viva was built with", soname, missing);
		memset(api, 0, sizeof(*api));
		dlclose(h);
		return -1;
	}
	return 0;   /* h stays open: the functions are used until the process ends */
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct cairo_api loaded;
static int load_rc;
static char load_err[256];

static void load(void)
{
	load_rc = cairo_dl_open(VIVA_CAIRO_SONAME, &loaded, load_err, sizeof(load_err));
}

const struct cairo_api *cairo_dl(char *err, size_t len)
{
	pthread_once(&once, load);
	if (load_rc != 0) {
		snprintf(err, len, "%s", load_err);
		return NULL;
	}
	return &loaded;
}

const struct cairo_api *cairo_loaded(void)
{
	return &loaded;
}
