/* libFuzzer: the event loop's envelope scanner. Any input: no crash, and the
 * scanner agrees with jansson (tests/envscan_check.h). */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>

#include "tests/envscan_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *bad = envscan_check((const char *)data, size);

	if (bad) {
		fprintf(stderr, "envscan disagrees with jansson: %s\n", bad);
		abort();
	}
	return 0;
}
