'use strict';
// The comparison peer of viva's `make bench`: a minimal Bolt for JavaScript
// app in Socket Mode that does the same work per slash command as viva with
// VIVA_DEBUG_JOB_DELAY_MS: ack at once, ~20 ms of (simulated) slow work, then
// one POST to the payload's response_url.
//
// Environment (bench/run.sh sets all of it):
//   SLACK_APP_TOKEN, SLACK_BOT_TOKEN  the fake's tokens (xapp-..., xoxb-...)
//   SLACK_API_URL     http://127.0.0.1:PORT/api/ (the fake; nothing else allowed)
//   BENCH_DELAY_MS    the slow work per command (default 20)
//   BENCH_COMMAND     the slash command to listen for (default /viva)
//   BENCH_REPLY_FILE  optional JSON message to send as the reply (run.sh puts
//                     viva's own reply there, so both send the same bytes)
//   BENCH_MAX_INFLIGHT  HTTP requests in flight at once (default 64, as viva's
//                     64 workers; 0: unbounded, Bolt's default)
const fs = require('node:fs');
const { App, LogLevel } = require('@slack/bolt');

const apiUrl = process.env.SLACK_API_URL || '';
const delayMs = Number(process.env.BENCH_DELAY_MS || 20);
const command = process.env.BENCH_COMMAND || '/viva';

// Benchmark traffic must never leave the machine: refuse anything but the loopback fake.
if (!/^http:\/\/127\.0\.0\.1:\d+\/api\/$/.test(apiUrl)) {
  console.error(`bolt-peer: SLACK_API_URL must be http://127.0.0.1:PORT/api/, got "${apiUrl}"`);
  process.exit(2);
}

let reply = { text: 'viva commands' };
if (process.env.BENCH_REPLY_FILE) {
  try {
    const r = JSON.parse(fs.readFileSync(process.env.BENCH_REPLY_FILE, 'utf8'));
    if (r && typeof r === 'object') reply = r;
  } catch (e) {
    console.error(`bolt-peer: ${process.env.BENCH_REPLY_FILE}: ${e.message}; using a plain text reply`);
  }
}
delete reply.replace_original;
delete reply.delete_original;

// Bolt's respond() is a bare fetch(): with no bound, a backlog of replies opens
// thousands of sockets at once, more than the fake's 64 HTTP header slots, and
// the fake closes the overflow ("other side closed"). viva has at most one
// request per worker in flight; give Bolt the same bound with a small queue.
const maxInflight = Number(process.env.BENCH_MAX_INFLIGHT ?? 64);
let inflight = 0;
const waiting = [];
async function boundedFetch(url, init) {
  if (inflight >= maxInflight) await new Promise((resolve) => waiting.push(resolve));
  inflight++;
  try {
    return await fetch(url, init);
  } finally {
    inflight--;
    if (waiting.length) waiting.shift()();
  }
}

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  appToken: process.env.SLACK_APP_TOKEN,
  socketMode: true,
  logLevel: LogLevel.WARN,
  // viva makes no auth.test call at start either; and Bolt's auth.test puts the
  // token in the body, which the fake (like Slack's newer rules) flags. The ids
  // are the fake's bot (tests/fake_slack.c BOT_ID, BOT_USER).
  tokenVerificationEnabled: false,
  botId: 'B0FAKE',
  botUserId: 'U0BOT',
  // App hands clientOptions to its SocketModeReceiver (installerOptions.clientOptions
  // -> SocketModeClient), so apps.connections.open goes to the fake as well as auth.test.
  clientOptions: {
    slackApiUrl: apiUrl,
    ...(maxInflight > 0 ? { fetch: boundedFetch } : {}),
  },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

app.command(command, async ({ ack, respond }) => {
  await ack();
  await sleep(delayMs);
  await respond({ ...reply, response_type: 'ephemeral' });
});

app.error(async (err) => {
  const cause = err && (err.original || err).cause;
  console.error(`bolt-peer: ${err && err.message ? err.message : err}${cause ? ` (${cause.code || ''} ${cause.message || cause})` : ''}`);
});

let stopping = false;
async function stop(sig) {
  if (stopping) return;
  stopping = true;
  const t = setTimeout(() => process.exit(1), 5000); // bounded shutdown
  t.unref();
  try {
    await app.stop();
  } catch (e) {
    console.error(`bolt-peer: stop on ${sig}: ${e.message}`);
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

(async () => {
  await app.start();
  console.log('bolt-peer: started');
})().catch((e) => {
  console.error(`bolt-peer: start failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
