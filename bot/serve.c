#include "bot/serve.h"
#include "bot/config.h"

#include <stdio.h>

int serve_run(struct viva_env *env)
{
	(void)env;
	fprintf(stderr, "viva: the Socket Mode runtime is not in this build yet (issue 2/4); "
		"use `viva console` meanwhile\n");
	return 1;
}
