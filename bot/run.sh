#!/bin/sh
# `make run`: start viva on Slack when the tokens are there (environment or
# .env), else the local console.
set -u
tok() { # the variable from the environment, else from .env (value never printed)
  eval "v=\${$1:-}"
  if [ -z "$v" ] && [ -f .env ]; then
    v=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$1=//p" .env | tail -n 1 | tr -d "\"'")
  fi
  [ -n "$v" ]
}
if tok SLACK_APP_TOKEN && tok SLACK_BOT_TOKEN; then
  exec ./viva serve
fi
echo "No SLACK_APP_TOKEN/SLACK_BOT_TOKEN set: starting the local console. To connect a real workspace, see README.md (Install the Slack app) and put both tokens in .env."
exec ./viva console
