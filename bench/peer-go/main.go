// The second comparison peer of viva's `make bench`: a minimal Socket Mode
// app on slack-go's socketmode package (Debian's
// golang-github-slack-go-slack-dev, built in GOPATH mode by bench/run.sh). It
// does the same work per slash command as viva with VIVA_DEBUG_JOB_DELAY_MS
// and the Bolt peer (bench/peer/app.js): ack at once, ~20 ms of (simulated)
// slow work, then one POST of the reply to the payload's response_url, with
// at most BENCH_MAX_INFLIGHT (64) replies in flight.
//
// Environment (bench/run.sh sets all of it):
//
//	SLACK_APP_TOKEN, SLACK_BOT_TOKEN  the fake's tokens (xapp-..., xoxb-...)
//	SLACK_API_URL     http://127.0.0.1:PORT/api/ (the fake; nothing else allowed)
//	BENCH_DELAY_MS    the slow work per command (default 20)
//	BENCH_COMMAND     the slash command to handle (default /viva)
//	BENCH_REPLY_FILE  optional JSON message to send as the reply (viva's own
//	                  reply, so all three put the same bytes on the wire)
//	BENCH_MAX_INFLIGHT  replies in flight at once (default 64, as viva's 64
//	                  workers and the Bolt peer's bound; 0: unbounded)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n
		}
	}
	return def
}

// The reply: the file's message as the Bolt peer sends it (respond() with
// response_type ephemeral, without replace_original/delete_original).
func loadReply() []byte {
	msg := map[string]interface{}{"text": "viva commands"}
	if f := os.Getenv("BENCH_REPLY_FILE"); f != "" {
		b, err := os.ReadFile(f)
		var m map[string]interface{}
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err == nil && m != nil {
			msg = m
		} else {
			fmt.Fprintf(os.Stderr, "go-peer: %s: %v; using a plain text reply\n", f, err)
		}
	}
	delete(msg, "replace_original")
	delete(msg, "delete_original")
	msg["response_type"] = "ephemeral"
	b, err := json.Marshal(msg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-peer: reply: %v\n", err)
		os.Exit(2)
	}
	return b
}

func main() {
	apiURL := os.Getenv("SLACK_API_URL")
	// Benchmark traffic must never leave the machine: the loopback fake only.
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/api/$`).MatchString(apiURL) {
		fmt.Fprintf(os.Stderr, "go-peer: SLACK_API_URL must be http://127.0.0.1:PORT/api/, got %q\n", apiURL)
		os.Exit(2)
	}
	delay := time.Duration(envInt("BENCH_DELAY_MS", 20)) * time.Millisecond
	command := os.Getenv("BENCH_COMMAND")
	if command == "" {
		command = "/viva"
	}
	maxInflight := envInt("BENCH_MAX_INFLIGHT", 64)
	reply := loadReply()

	// Replies go out on keep-alive connections, at most maxInflight at once
	// (a semaphore around the POST, as the Bolt peer bounds its fetch).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if maxInflight > 0 {
		transport.MaxIdleConnsPerHost = maxInflight
		transport.MaxConnsPerHost = maxInflight
	}
	httpc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var sem chan struct{}
	if maxInflight > 0 {
		sem = make(chan struct{}, maxInflight)
	}
	respond := func(url string) {
		if sem != nil {
			sem <- struct{}{}
			defer func() { <-sem }()
		}
		resp, err := httpc.Post(url, "application/json; charset=utf-8", bytes.NewReader(reply))
		if err != nil {
			fmt.Fprintf(os.Stderr, "go-peer: response_url: %v\n", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "go-peer: response_url: HTTP %d\n", resp.StatusCode)
		}
	}

	// No auth.test at start: slack-go's AuthTest puts the token in the form
	// body, which the fake (like Slack's docs) flags; Bolt skips it too.
	// apps.connections.open goes to the fake with the app token in the header.
	api := slack.New(os.Getenv("SLACK_BOT_TOKEN"),
		slack.OptionAppLevelToken(os.Getenv("SLACK_APP_TOKEN")),
		slack.OptionAPIURL(apiURL),
		slack.OptionHTTPClient(httpc))
	client := socketmode.New(api)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		os.Exit(0)
	}()

	go func() {
		if err := client.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "go-peer: socket mode: %v\n", err)
			os.Exit(1)
		}
	}()

	for evt := range client.Events {
		switch evt.Type {
		case socketmode.EventTypeConnected:
			fmt.Println("go-peer: connected")
		case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
			fmt.Fprintf(os.Stderr, "go-peer: %s: %v\n", evt.Type, evt.Data)
		case socketmode.EventTypeSlashCommand:
			cmd, ok := evt.Data.(slack.SlashCommand)
			if !ok || evt.Request == nil {
				continue
			}
			client.Ack(*evt.Request)
			if cmd.Command != command || cmd.ResponseURL == "" {
				continue
			}
			go func(url string) {
				time.Sleep(delay)
				respond(url)
			}(cmd.ResponseURL)
		}
	}
}
