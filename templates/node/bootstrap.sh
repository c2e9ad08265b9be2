#!/bin/sh
# viva's node bootstrap (SPEC 10.3): a new machine joins its Kubernetes
# cluster, or a joined one upgrades, with what viva answers for it.
#
#   curl -fsS "$VIVA_URL/v1/bootstrap.sh" | VIVA_URL=... VIVA_NODE_TOKEN=... sh
#   curl -fsS "$VIVA_URL/v1/bootstrap.sh" | VIVA_URL=... VIVA_NODE_TOKEN=... sh -s -- --upgrade
#   VIVA_URL=... VIVA_NODE_TOKEN=... NODE_ROOT=/tmp/try sh bootstrap.sh --files-only
#
# Environment
#   VIVA_URL            viva's base URL (required), e.g. https://viva.example.com
#   VIVA_NODE_TOKEN     the bearer token of viva's node API (required)
#   NODE_NAME           this node's name (default: `hostname`); lower-cased
#   NODE_ROOT           where the files are written (default /): a scratch
#                       directory to try it (with --files-only, nothing else runs)
#   VIVA_RETRY_BASE_MS  the first wait before a retry, in milliseconds (default
#                       2000; tests make it small). Waits double, at most 60 s,
#                       8 attempts in all, each request at most 30 s: a fetch or
#                       a report gives up within about 7 minutes. A value that
#                       is not whole seconds needs a `sleep` that takes
#                       fractions (GNU coreutils, busybox).
# Options
#   --upgrade      upgrade this node even when viva's answer does not ask for it
#   --files-only   fetch and write the files, nothing else (no systemctl,
#                  kubeadm or report)
#   --help
#
# What it does
#   1. GET $VIVA_URL/v1/nodes/$NODE_NAME/bootstrap with the bearer token.
#      401, 404, 422 (any 4xx but 408 and 429) are final: viva's reason is
#      printed and nothing else happens. 5xx, 408, 429 and connection errors
#      are retried with the backoff above.
#   2. Reads the JSON answer with the awk program below (POSIX awk: mawk,
#      gawk, busybox) and checks everything before it writes anything: paths
#      absolute, without ., .. or empty components or control characters;
#      modes 644 or 0644 style (no setuid, setgid or sticky bit); the join
#      token [a-z0-9]{6}.[a-z0-9]{16}; every CA hash sha256:<64 hex>; role
#      master or worker; its hostname, when given, is NODE_NAME. A refused
#      answer writes nothing and is reported.
#   3. Mode. The node is joined when NODE_ROOT/etc/kubernetes/kubelet.conf
#      exists. Joined, and the answer says "upgrade": true or --upgrade was
#      given: upgrade. Joined otherwise: nothing to do (exit 0; `kubeadm
#      reset` first to join again). Not joined: join, whatever the answer's
#      upgrade says (a re-imaged node joins with the new files).
#   4. Writes every file atomically: all are first copied to a temporary file
#      beside their target (.NAME.viva-new.PID) and given their mode, then
#      each is renamed over its target; a failure before the renames removes
#      the temporary files and leaves every target as it was.
#   5. Services, with systemctl only: daemon-reload; when such files were
#      written, systemd-modules-load (modules-load.d: what modprobe would
#      do), systemd-sysctl (sysctl.d: what sysctl --system would do) and a
#      reload of NetworkManager; enable and restart containerd; restart any
#      other unit whose unit file (enabled too) or drop-in was written; then
#      kubelet (join: enable and restart, then kubeadm join; upgrade: after
#      kubeadm upgrade).
#   6. join:    kubeadm join APISERVER --token T --discovery-token-ca-cert-hash H
#               (one per hash) --node-name NODE_NAME. A master adds
#               --control-plane: with --certificate-key K when the answer has
#               join.certificateKey (certificates uploaded with kubeadm init
#               --upload-certs), else only when the control plane's
#               certificates are already in NODE_ROOT/etc/kubernetes/pki
#               (ca.crt and ca.key, copied by hand); otherwise the join is
#               refused and reported, never done as a worker.
#      upgrade: the binaries of the new version are the node's packages or
#               image: this script only checks that `kubeadm version` is the
#               answer's settings.kubernetesVersion (else it refuses, writes
#               nothing and reports it). Then the new files, the services,
#               `kubeadm upgrade node` (a worker) or `kubeadm upgrade apply
#               --yes vVERSION` (a master: the first control-plane node must
#               apply, and applying again on the others is harmless), and
#               kubelet is restarted.
#   7. POST $VIVA_URL/v1/nodes/$NODE_NAME/report {"phase", "ok",
#      "kubeletVersion", "output"}: the output of every command, with the
#      secrets replaced by <redacted>, its [ERROR and "error execution phase"
#      lines and its last lines, at most about 32 KB.
#
# The join token, the certificate key and VIVA_NODE_TOKEN are never printed:
# tracing is switched off (sh -x would show them), curl reads the
# Authorization header from its standard input rather than its arguments,
# and command output is redacted before it is shown or reported. kubeadm
# takes the token on its command line, as the spec has it.
#
# Exit status: 0 done (or nothing to do); 1 the join or upgrade failed
# (reported); 2 a usage error; 3 viva refused the request or could not be
# reached; 4 viva's answer was refused (nothing written; reported); 5 done,
# but the report could not be delivered.
#
# Everything is in functions and runs from the last line, so a download cut
# short runs nothing.

# sh -x would print the tokens: tracing stays off.
set +x

usage() {
	cat <<'EOF'
usage: VIVA_URL=URL VIVA_NODE_TOKEN=TOKEN [NODE_NAME=NAME] [NODE_ROOT=DIR] sh bootstrap.sh [--upgrade | --files-only]
Joins this machine to its Kubernetes cluster (or upgrades it) with what viva
answers for it at $VIVA_URL/v1/nodes/$NODE_NAME/bootstrap, then reports the
outcome. --upgrade: upgrade even when viva does not ask for it; --files-only:
write the files (under NODE_ROOT, default /) and do nothing else. The head of
this script says more.
EOF
}

say() {
	printf 'viva-bootstrap: %s\n' "$*" >&2
}

die() {
	status=$1
	shift
	say "$*"
	exit "$status"
}

# ---- the JSON reader -------------------------------------------------------
#
# VB_MODE=plan: reads viva's answer on stdin and, only when all of it is
# well-formed and passes the checks, leaves in VB_WORK: count, N.path,
# N.mode, N.data (the decoded content, bytes as they are) for each file,
# api, token, hashes (one a line), ckey, role, upgrade, version. Otherwise
# it writes the reason to VB_WORK/error and exits 1.
# VB_MODE=reason: prints the "error" (or "reason", "message") string of a
# JSON object, for a refusal; exits 1 when there is none.
#
# A recursive descent over the whole text held in one string. Values are
# addressed by a path (.files[2].content); keys with other characters than
# [A-Za-z0-9_-] become "#" so that no key can pose as a path. Strings never
# span lines and the positions of every quote and backslash are found once
# (split), so a string is read run by run rather than byte by byte, and a
# file's content is written out as it is decoded. Run with LC_ALL=C: one
# character is one byte, and %c makes the bytes of UTF-8.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
JSON_AWK='
function fail(msg,   f) {
	if (MODE != "plan")
		exit 1
	f = W "/error"
	printf "%s\n", msg > f
	close(f)
	exit 1
}
function shown(s) {
	gsub(CTRL, "?", s)
	if (length(s) > 200)
		s = substr(s, 1, 200) "..."
	return "\"" s "\""
}
function where() {
	return "at byte " P
}
function unexpected(what,   c) {
	c = substr(S, P, 1)
	if (c == "")
		fail("malformed JSON: the answer ends early (cut short?), " what " expected")
	fail("malformed JSON " where() ": " what " expected, not " shown(c))
}
function ws(   c) {
	while (P <= N) {
		c = substr(S, P, 1)
		if (c != " " && c != "\t" && c != "\n" && c != "\r")
			return
		P++
	}
}
function utf8(cp) {
	if (cp < 128)
		return sprintf("%c", cp)
	if (cp < 2048)
		return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
	if (cp < 65536)
		return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
	return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64,
		128 + int(cp / 64) % 64, 128 + cp % 64)
}
function hex4(at,   i, c, d, v) {
	v = 0
	for (i = 0; i < 4; i++) {
		c = tolower(substr(S, at + i, 1))
		d = c == "" ? 0 : index("0123456789abcdef", c)
		if (d == 0)
			fail("malformed JSON at byte " at ": \\u needs four hex digits")
		v = v * 16 + d - 1
	}
	return v
}
function emit(dest, s) {
	if (dest != "")
		printf "%s", s > dest
	else
		V = V s
}
# The string at P (its opening quote): into V, or into the file dest.
function str(dest,   q, e, cp, lo) {
	V = ""
	if (dest != "")
		printf "" > dest
	P++
	for (;;) {
		while (K <= NSP && SP[K] < P)
			K++
		if (K > NSP)
			fail("malformed JSON: a string is not closed (the answer is cut short?)")
		q = SP[K]
		if (q > P) {
			if (substr(S, P, q - P) ~ CTRL)
				fail("malformed JSON " where() ": a control character inside a string")
			emit(dest, substr(S, P, q - P))
		}
		if (substr(S, q, 1) == "\"") {
			P = q + 1
			break
		}
		e = substr(S, q + 1, 1)
		P = q + 2
		if (e == "\"" || e == "\\" || e == "/")
			emit(dest, e)
		else if (e == "n")
			emit(dest, "\n")
		else if (e == "t")
			emit(dest, "\t")
		else if (e == "r")
			emit(dest, "\r")
		else if (e == "b")
			emit(dest, "\b")
		else if (e == "f")
			emit(dest, "\f")
		else if (e == "u") {
			cp = hex4(P)
			P += 4
			if (cp >= 55296 && cp <= 56319) {
				if (substr(S, P, 2) != "\\u")
					fail("malformed JSON at byte " P ": a UTF-16 high surrogate without its low half")
				lo = hex4(P + 2)
				if (lo < 56320 || lo > 57343)
					fail("malformed JSON at byte " P ": a UTF-16 high surrogate without its low half")
				P += 6
				cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
			} else if (cp >= 56320 && cp <= 57343) {
				fail("malformed JSON at byte " (P - 6) ": a UTF-16 low surrogate alone")
			}
			if (cp == 0)
				fail("a string of the answer holds \\u0000 (a NUL byte), which no file here may hold")
			emit(dest, utf8(cp))
		} else if (e == "") {
			fail("malformed JSON: a string is not closed (the answer is cut short?)")
		} else {
			fail("malformed JSON at byte " q ": unknown escape " shown("\\" e))
		}
	}
	if (dest != "")
		close(dest)
}
function number(   st, t) {
	st = P
	while (P <= N && index("0123456789+-.eE", substr(S, P, 1)) > 0)
		P++
	t = substr(S, st, P - st)
	if (t !~ /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/)
		fail("malformed JSON at byte " st ": " shown(t) " is not a number")
}
function component(k) {
	return k ~ /^[A-Za-z0-9_-]+$/ ? k : "#"
}
function object(at, d,   k, c) {
	P++
	TYPE[at] = "object"
	ws()
	if (substr(S, P, 1) == "}") {
		P++
		return
	}
	for (;;) {
		ws()
		if (substr(S, P, 1) != "\"")
			unexpected("a key in double quotes")
		str("")
		k = V
		if ((at SUBSEP k) in SEEN)
			fail("malformed JSON " where() ": the key " shown(k) " twice in one object")
		SEEN[at SUBSEP k] = 1
		ws()
		if (substr(S, P, 1) != ":")
			unexpected("a colon")
		P++
		value(at "." component(k), d + 1)
		ws()
		c = substr(S, P, 1)
		if (c == ",") {
			P++
		} else if (c == "}") {
			P++
			return
		} else {
			unexpected("a comma or }")
		}
	}
}
function array(at, d,   i, c) {
	P++
	TYPE[at] = "array"
	COUNT[at] = 0
	ws()
	if (substr(S, P, 1) == "]") {
		P++
		return
	}
	for (i = 0; ; i++) {
		value(at "[" i "]", d + 1)
		COUNT[at] = i + 1
		ws()
		c = substr(S, P, 1)
		if (c == ",") {
			P++
		} else if (c == "]") {
			P++
			return
		} else {
			unexpected("a comma or ]")
		}
	}
}
function value(at, d,   c, dest) {
	if (d > 64)
		fail("malformed JSON " where() ": nested deeper than 64 levels")
	ws()
	c = substr(S, P, 1)
	if (c == "{") {
		object(at, d)
	} else if (c == "[") {
		array(at, d)
	} else if (c == "\"") {
		dest = ""
		if (MODE == "plan" && at ~ /^\.files\[[0-9]+\]\.content$/)
			dest = W "/" substr(at, 8, index(at, "]") - 8) ".data"
		str(dest)
		TYPE[at] = "string"
		VAL[at] = V
	} else if (substr(S, P, 4) == "true" || substr(S, P, 5) == "false") {
		TYPE[at] = "bool"
		VAL[at] = c == "t" ? "true" : "false"
		P += c == "t" ? 4 : 5
	} else if (substr(S, P, 4) == "null") {
		TYPE[at] = "null"
		P += 4
	} else if (c == "-" || (c >= "0" && c <= "9")) {
		number()
		TYPE[at] = "number"
	} else {
		unexpected("a value")
	}
}
function put(name, v,   f) {
	f = W "/" name
	printf "%s", v > f
	close(f)
}
function check_path(i, p,   parts, n, j) {
	if (p ~ CTRL)
		fail("files[" i "].path " shown(p) " holds a control character")
	if (substr(p, 1, 1) != "/")
		fail("files[" i "].path " shown(p) " is not absolute")
	if (length(p) > 4096)
		fail("files[" i "].path is longer than 4096 bytes")
	n = split(substr(p, 2), parts, "/")
	for (j = 1; j <= n; j++)
		if (parts[j] == "" || parts[j] == "." || parts[j] == "..")
			fail("files[" i "].path " shown(p) " has an empty, . or .. component")
	if (n == 0)
		fail("files[" i "].path " shown(p) " names no file")
}
function plan(   nf, i, b, m, t, h, nh, r, u, v) {
	v = VAL[".hostname"]
	if (TYPE[".hostname"] == "string" && tolower(v) != ENVIRON["VB_NAME"])
		fail("the answer is for the host " shown(v) ", not " ENVIRON["VB_NAME"])
	if (TYPE[".files"] != "array")
		fail("the answer has no \"files\" array")
	nf = COUNT[".files"]
	for (i = 0; i < nf; i++) {
		b = ".files[" i "]"
		if (TYPE[b] != "object")
			fail("files[" i "] is not an object")
		if (TYPE[b ".path"] != "string")
			fail("files[" i "] has no \"path\" string")
		check_path(i, VAL[b ".path"])
		if (TYPE[b ".mode"] != "string")
			fail("files[" i "] has no \"mode\" string (an octal mode such as \"0644\")")
		m = VAL[b ".mode"]
		if (m !~ /^0?[0-7][0-7][0-7]$/)
			fail("files[" i "].mode " shown(m) " is not an octal mode such as \"0644\" (no setuid, setgid or sticky bit)")
		if (TYPE[b ".content"] != "string")
			fail("files[" i "] has no \"content\" string")
		put(i ".path", VAL[b ".path"])
		put(i ".mode", m)
	}
	put("count", nf)
	if (TYPE[".join"] != "object")
		fail("the answer has no \"join\" object")
	if (TYPE[".join.apiServer"] != "string")
		fail("join has no \"apiServer\" string")
	v = VAL[".join.apiServer"]
	if (v !~ /^[][A-Za-z0-9.:_-]+$/ || substr(v, 1, 1) == "-" || length(v) > 261)
		fail("join.apiServer " shown(v) " is not a host:port")
	put("api", v)
	t = VAL[".join.token"]
	if (TYPE[".join.token"] != "string" || length(t) != 23 || index(t, ".") != 7 || t !~ /^[a-z0-9]+\.[a-z0-9]+$/)
		fail("join.token does not look like a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})")
	put("token", t)
	if (TYPE[".join.caCertHashes"] != "array" || COUNT[".join.caCertHashes"] == 0)
		fail("join.caCertHashes is not a non-empty array: the CA cannot be verified")
	nh = COUNT[".join.caCertHashes"]
	h = ""
	for (i = 0; i < nh; i++) {
		b = ".join.caCertHashes[" i "]"
		v = VAL[b]
		if (TYPE[b] != "string" || length(v) != 71 || substr(v, 1, 7) != "sha256:" || substr(v, 8) !~ /^[0-9a-fA-F]+$/)
			fail("join.caCertHashes[" i "] " shown(v) " is not sha256: and 64 hex digits")
		h = h v "\n"
	}
	put("hashes", h)
	v = ""
	if (TYPE[".join.certificateKey"] != "" && TYPE[".join.certificateKey"] != "null") {
		v = VAL[".join.certificateKey"]
		if (TYPE[".join.certificateKey"] != "string" || length(v) != 64 || v !~ /^[0-9a-fA-F]+$/)
			fail("join.certificateKey is not 64 hex digits")
	}
	put("ckey", v)
	r = "worker"
	if (TYPE[".role"] != "" && TYPE[".role"] != "null") {
		r = VAL[".role"]
		if (TYPE[".role"] != "string" || (r != "master" && r != "worker"))
			fail("role " shown(r) " is neither master nor worker")
	}
	put("role", r)
	u = "false"
	if (TYPE[".upgrade"] == "bool")
		u = VAL[".upgrade"]
	else if (TYPE[".upgrade"] != "" && TYPE[".upgrade"] != "null")
		fail("upgrade is not true or false")
	put("upgrade", u)
	v = ""
	if (TYPE[".settings.kubernetesVersion"] != "" && TYPE[".settings.kubernetesVersion"] != "null") {
		v = VAL[".settings.kubernetesVersion"]
		sub(/^v/, "", v)
		if (TYPE[".settings.kubernetesVersion"] != "string" || v !~ /^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$/)
			fail("settings.kubernetesVersion " shown(v) " is not a version such as 1.25.6")
	}
	put("version", v)
}
BEGIN {
	W = ENVIRON["VB_WORK"]
	MODE = ENVIRON["VB_MODE"]
	CTRL = "[" sprintf("%c", 1) "-" sprintf("%c", 31) sprintf("%c", 127) "]"
}
{
	S = S $0 "\n"
}
END {
	N = length(S)
	n = split(S, parts, /["\\]/)
	NSP = 0
	pos = 0
	for (i = 1; i < n; i++) {
		pos += length(parts[i]) + 1
		SP[++NSP] = pos
	}
	split("", parts)
	K = 1
	P = 1
	ws()
	if (substr(S, P, 1) != "{")
		unexpected("a JSON object")
	value("", 0)
	ws()
	if (P <= N)
		fail("malformed JSON " where() ": more text after the answer")
	if (MODE == "reason") {
		if (TYPE[".error"] == "string")
			v = VAL[".error"]
		else if (TYPE[".reason"] == "string")
			v = VAL[".reason"]
		else if (TYPE[".message"] == "string")
			v = VAL[".message"]
		else
			exit 1
		gsub(CTRL, " ", v)
		if (length(v) > 500)
			v = substr(v, 1, 500) "..."
		print v
		exit 0
	}
	plan()
}
'

# ---- output: redacted, then cut for the report -----------------------------
#
# Replaces every VB_SECRET1..3 of 8 bytes or more (literally, not as a
# regular expression) with <redacted>.
# shellcheck disable=SC2016 # an awk program
REDACT_AWK='
function lrep(s, lit,   out, k) {
	out = ""
	while ((k = index(s, lit)) > 0) {
		out = out substr(s, 1, k - 1) "<redacted>"
		s = substr(s, k + length(lit))
	}
	return out s
}
BEGIN {
	n = 0
	for (i = 1; i <= 3; i++)
		if (length(ENVIRON["VB_SECRET" i]) >= 8)
			SEC[++n] = ENVIRON["VB_SECRET" i]
}
{
	line = $0
	for (i = 1; i <= n; i++)
		line = lrep(line, SEC[i])
	print line
}
'

# The report's "output", as the inside of a JSON string (escaped, valid
# UTF-8: a broken sequence becomes U+FFFD): the [ERROR and "error execution
# phase" lines (at most 40, about 12 KB) of what is left out, then the last
# lines (at most 200, about 20 KB), each line at most 1000 bytes.
# shellcheck disable=SC2016 # an awk program
REPORT_AWK='
function esc(s,   out, n, i, rest, c, b, need, ok, j, t) {
	out = ""
	n = length(s)
	i = 1
	while (i <= n) {
		rest = substr(s, i)
		if (!match(rest, SPECIAL)) {
			out = out rest
			break
		}
		out = out substr(rest, 1, RSTART - 1)
		i += RSTART - 1
		c = substr(s, i, 1)
		b = ORD[c]
		if (c == "\"" || c == "\\")
			out = out "\\" c
		else if (c == "\t")
			out = out "\\t"
		else if (b < 32 || b == 127)
			out = out sprintf("\\u%04x", b)
		else {
			need = (b >= 194 && b <= 223) ? 1 : (b >= 224 && b <= 239) ? 2 : (b >= 240 && b <= 244) ? 3 : 0
			ok = need > 0 && i + need <= n
			for (j = 1; ok && j <= need; j++) {
				t = ORD[substr(s, i + j, 1)]
				if (t < 128 || t > 191)
					ok = 0
			}
			if (ok) {
				t = ORD[substr(s, i + 1, 1)]
				if ((b == 224 && t < 160) || (b == 237 && t > 159) || (b == 240 && t < 144) || (b == 244 && t > 143))
					ok = 0
			}
			if (ok) {
				out = out substr(s, i, need + 1)
				i += need
			} else {
				out = out "\\ufffd"
			}
		}
		i++
	}
	return out
}
BEGIN {
	for (i = 1; i < 256; i++)
		ORD[sprintf("%c", i)] = i
	SPECIAL = "[^ -~]|[\"\\\\]"
	KEEP = 200
	NDEC = 0
}
{
	line = $0
	if (length(line) > 1000)
		line = substr(line, 1, 1000) " [...]"
	if (NDEC < 40 && (index(line, "[ERROR") > 0 || index(line, "error execution phase") > 0)) {
		DEC[++NDEC] = line
		DECNR[NDEC] = NR
	}
	TAIL[NR % KEEP] = line
}
END {
	first = NR + 1
	used = 0
	for (i = NR; i >= 1 && i > NR - KEEP; i--) {
		e = esc(TAIL[i % KEEP])
		if (used + length(e) + 2 > 20000)
			break
		T[i] = e
		used += length(e) + 2
		first = i
	}
	out = ""
	if (first > 1) {
		out = "[viva-bootstrap: " (first - 1) " earlier lines left out; their [ERROR and error execution phase lines:]\\n"
		used = 0
		for (j = 1; j <= NDEC && DECNR[j] < first; j++) {
			e = esc(DEC[j])
			if (used + length(e) + 2 > 12000)
				break
			out = out e "\\n"
			used += length(e) + 2
		}
		out = out "[viva-bootstrap: the last " (NR - first + 1) " lines:]\\n"
	}
	for (i = first; i <= NR; i++)
		out = out T[i] (i < NR ? "\\n" : "")
	printf "%s", out
}
'

redact() {
	VB_SECRET1=$VIVA_NODE_TOKEN VB_SECRET2=$secret_token VB_SECRET3=$secret_ckey LC_ALL=C awk "$REDACT_AWK"
}

# Add a note to the output that goes into the report (and say it).
note() {
	say "$*"
	printf 'viva-bootstrap: %s\n' "$*" | redact >>"$work/output"
}

# Run a command (never reading the script's standard input: with curl | sh
# that is the rest of the script); its output, redacted, is shown and kept
# for the report. Returns the command's status.
step() {
	printf '$ %s\n' "$*" >"$work/step"
	"$@" </dev/null >>"$work/step" 2>&1
	step_status=$?
	tr -d '\000' <"$work/step" | redact | tee -a "$work/output"
	if [ "$step_status" -ne 0 ]; then
		# three words at most: kubeadm join's fourth is --token
		note "$1 $2${3:+ $3} failed (exit $step_status)"
	fi
	return "$step_status"
}

# ---- HTTP --------------------------------------------------------------------

sleep_ms() {
	if [ $(($1 % 1000)) -eq 0 ]; then
		sleep $(($1 / 1000))
	else
		sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
	fi
}

seconds() {
	if [ $(($1 % 1000)) -eq 0 ]; then
		printf '%d' $(($1 / 1000))
	else
		printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
	fi
}

# http METHOD URL OUT [BODY]: one request; sets http_code ("000" without an
# answer) and returns curl's status. The Authorization header goes to curl
# on its standard input (a config line), never on its command line.
http() {
	method=$1 target=$2 out=$3 body=${4:-}
	set --
	if [ "$method" = POST ]; then
		set -- -X POST -H 'Content-Type: application/json' --data-binary "@$body"
	fi
	http_code=$(printf '%s\n' "$VIVA_NODE_TOKEN" | sed 's/[\\"]/\\&/g; s/^/header = "Authorization: Bearer /; s/$/"/' |
		curl -sS -K - -A viva-bootstrap -H 'Accept: application/json' --connect-timeout 10 --max-time 30 \
			-o "$out" -w '%{http_code}' "$@" "$target" 2>"$work/curl.err")
}

# request METHOD URL OUT [BODY]: http with retries. Returns 0 on 2xx; 1 on a
# final answer (http_code says which); 2 when it gave up.
request() {
	attempt=1
	delay=$retry_base
	while :; do
		if http "$@"; then
			case $http_code in
			2??) return 0 ;;
			408 | 429 | 5??) why="viva answered HTTP $http_code" ;;
			*) return 1 ;;
			esac
		else
			why="viva at $shown_url is not reachable ($(sed -n '$p' "$work/curl.err"))"
		fi
		if [ "$attempt" -ge 8 ]; then
			say "$why; giving up after $attempt attempts"
			return 2
		fi
		say "$why; retrying in $(seconds "$delay") s (attempt $((attempt + 1)) of 8)"
		sleep_ms "$delay"
		attempt=$((attempt + 1))
		delay=$((delay * 2))
		[ "$delay" -le 60000 ] || delay=60000
	done
}

# viva's reason in a refusal's body: its "error" string, else the start of
# the body.
reason() {
	if ! VB_MODE=reason VB_WORK=$work LC_ALL=C awk "$JSON_AWK" <"$1" 2>/dev/null; then
		LC_ALL=C tr -d '\000-\037' <"$1" | dd bs=300 count=1 2>/dev/null
		echo
	fi
}

# report PHASE OK: post the outcome; 1 when it could not be delivered.
report() {
	kubelet_version=""
	if command -v kubelet >/dev/null 2>&1; then
		kubelet_version=$(kubelet --version </dev/null 2>/dev/null)
		kubelet_version=${kubelet_version#Kubernetes }
	fi
	if [ -z "$kubelet_version" ]; then
		kubelet_version=$(kubeadm version -o short </dev/null 2>/dev/null)
	fi
	case $kubelet_version in
	v[0-9]*.[0-9]*.[0-9]*) ;;
	*) kubelet_version="" ;;
	esac
	case $kubelet_version in
	*[!A-Za-z0-9.+-]*) kubelet_version="" ;;
	esac
	{
		printf '{"phase":"%s","ok":%s,"kubeletVersion":"%s","output":"' "$1" "$2" "$kubelet_version"
		LC_ALL=C awk "$REPORT_AWK" <"$work/output"
		printf '"}\n'
	} >"$work/report.json"
	request POST "$url/v1/nodes/$name/report" "$work/report.out" "$work/report.json"
	case $? in
	0)
		say "reported to viva: phase $1, ok $2"
		return 0
		;;
	1) say "viva refused the report: HTTP $http_code: $(reason "$work/report.out")" ;;
	*) say "the report could not be delivered" ;;
	esac
	return 1
}

# A failure after viva's answer: reported, then exit with status.
fail_reported() {
	status=$1
	shift
	note "$*"
	report "$phase" false || true
	exit "$status"
}

# ---- files -----------------------------------------------------------------

# Copy every file beside its target with its mode, then rename them all into
# place. Sets modules, sysctl, netman and units (one a line) from what was
# written.
write_files() {
	count=$(cat "$work/count")
	: >"$work/staged"
	: >"$work/units"
	modules=0 sysctl=0 netman=0
	i=0
	while [ "$i" -lt "$count" ]; do
		path=$(cat "$work/$i.path")
		target=$root$path
		dir=${target%/*}
		[ -n "$dir" ] || dir=/
		if [ -d "$target" ]; then
			note "cannot write $target: it is a directory"
			return 1
		fi
		if ! (umask 022 && mkdir -p "$dir") 2>>"$work/output"; then
			note "cannot make the directory $dir"
			return 1
		fi
		tmp="$dir/.${target##*/}.viva-new.$$"
		printf '%s\n' "$tmp" >>"$work/staged"
		if ! (set -C && cat "$work/$i.data" >"$tmp") 2>>"$work/output" ||
			! chmod "$(cat "$work/$i.mode")" "$tmp" 2>>"$work/output"; then
			note "cannot write $tmp"
			return 1
		fi
		case $path in
		/etc/modules-load.d/*) modules=1 ;;
		/etc/sysctl.d/* | /etc/sysctl.conf) sysctl=1 ;;
		/etc/NetworkManager/*) netman=1 ;;
		/etc/systemd/system/*) unit_of "$path" >>"$work/units" ;;
		esac
		i=$((i + 1))
	done
	i=0
	while [ "$i" -lt "$count" ]; do
		path=$(cat "$work/$i.path")
		target=$root$path
		tmp="${target%/*}/.${target##*/}.viva-new.$$"
		if ! mv -f "$tmp" "$target" 2>>"$work/output"; then
			note "cannot rename $tmp to $target"
			return 1
		fi
		say "wrote $target ($(cat "$work/$i.mode"))"
		i=$((i + 1))
	done
	return 0
}

# "new UNIT" for a unit file in /etc/systemd/system, "dropin UNIT" for a
# drop-in of a service; nothing for other paths.
unit_of() {
	case ${1%/*} in
	/etc/systemd/system)
		case ${1##*/} in
		*.service) printf 'new %s\n' "${1##*/}" ;;
		esac
		;;
	/etc/systemd/system/*/*) ;;
	/etc/systemd/system/*.service.d)
		case ${1##*/} in
		*.conf)
			unit=${1%/*}
			unit=${unit##*/}
			printf 'dropin %s\n' "${unit%.d}"
			;;
		esac
		;;
	esac
}

restart_services() {
	step systemctl daemon-reload || return 1
	if [ "$modules" = 1 ]; then
		step systemctl restart systemd-modules-load.service || return 1
	fi
	if [ "$sysctl" = 1 ]; then
		step systemctl restart systemd-sysctl.service || return 1
	fi
	if [ "$netman" = 1 ]; then
		step systemctl try-reload-or-restart NetworkManager.service || return 1
	fi
	step systemctl enable containerd.service || return 1
	step systemctl restart containerd.service || return 1
	# the unit names come from checked paths: no blank, no control character
	sort -u "$work/units" >"$work/units.sorted"
	while read -r kind unit; do
		case $unit in
		containerd.service | kubelet.service | *[!A-Za-z0-9@._:-]*) continue ;;
		esac
		if [ "$kind" = new ]; then
			step systemctl enable "$unit" || return 1
		fi
		step systemctl restart "$unit" || return 1
	done <"$work/units.sorted"
	return 0
}

# ---- main --------------------------------------------------------------------

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "${work:-}" ] && [ -d "$work" ]; then
		if [ -f "$work/staged" ]; then
			while IFS= read -r t; do
				rm -f "$t"
			done <"$work/staged"
		fi
		rm -rf "$work"
	fi
}

main() {
	set -u
	LC_ALL=C
	export LC_ALL
	work=""
	secret_token=""
	secret_ckey=""
	upgrade_flag=0
	files_only=0
	for arg in "$@"; do
		case $arg in
		--upgrade) upgrade_flag=1 ;;
		--files-only) files_only=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		*) die 2 "unknown argument $arg (see --help)" ;;
		esac
	done
	phase="join"
	[ "$upgrade_flag" = 0 ] || phase=upgrade

	command -v curl >/dev/null 2>&1 || die 2 "curl is not installed"
	url=${VIVA_URL:-}
	url=${url%/}
	case $url in
	http://?* | https://?*) ;;
	'') die 2 "VIVA_URL is not set: viva's base URL, such as https://viva.example.com" ;;
	*) die 2 "VIVA_URL must start with http:// or https://" ;;
	esac
	# as shown in messages: without user:password@
	shown_url=$(printf '%s\n' "$url" | sed 's|^\([a-z]*://\)[^/@]*@|\1|')
	VIVA_NODE_TOKEN=${VIVA_NODE_TOKEN:-}
	case $VIVA_NODE_TOKEN in
	'') die 2 "VIVA_NODE_TOKEN is not set: the token of viva's node API" ;;
	*[!!-~]*) die 2 "VIVA_NODE_TOKEN holds a blank or a control character" ;;
	esac
	name=${NODE_NAME:-}
	if [ -z "$name" ]; then
		name=$(hostname 2>/dev/null </dev/null) || name=""
		[ -n "$name" ] || name=$(uname -n)
	fi
	name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')
	case $name in
	'' | *[!a-z0-9.-]* | [.-]* | *[.-])
		die 2 "the node name \"$name\" is not a DNS name (set NODE_NAME)"
		;;
	esac
	[ "${#name}" -le 253 ] || die 2 "the node name is longer than 253 characters"
	root=${NODE_ROOT:-/}
	[ -d "$root" ] || die 2 "NODE_ROOT $root is not a directory"
	root=${root%/}
	retry_base=${VIVA_RETRY_BASE_MS:-2000}
	case $retry_base in
	'' | *[!0-9]*) die 2 "VIVA_RETRY_BASE_MS must be a number of milliseconds" ;;
	esac
	[ "$retry_base" -le 60000 ] || retry_base=60000

	trap cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	dir="${TMPDIR:-/tmp}/viva-bootstrap.$$"
	(umask 077 && mkdir "$dir") || die 1 "cannot make the directory $dir"
	work=$dir
	umask 077
	: >"$work/output"

	say "fetching the bootstrap of $name from $shown_url"
	request GET "$url/v1/nodes/$name/bootstrap" "$work/answer"
	case $? in
	0) ;;
	1)
		why=$(reason "$work/answer")
		case $http_code in
		401) hint="check VIVA_NODE_TOKEN" ;;
		404) hint="is $name the host name viva knows? (NODE_NAME sets it)" ;;
		422) hint="viva cannot render this node's files: fix the cluster config" ;;
		*) hint="" ;;
		esac
		die 3 "viva refused the bootstrap of $name: HTTP $http_code: $why${hint:+ ($hint)}"
		;;
	*) die 3 "could not fetch the bootstrap of $name" ;;
	esac

	tr -d '\000' <"$work/answer" >"$work/answer.nonul"
	if ! cmp -s "$work/answer" "$work/answer.nonul"; then
		printf 'the answer holds a NUL byte\n' >"$work/error"
	elif ! VB_MODE=plan VB_WORK=$work VB_NAME=$name LC_ALL=C awk "$JSON_AWK" <"$work/answer" 2>>"$work/error"; then
		[ -s "$work/error" ] || printf 'awk could not read it\n' >"$work/error"
	fi
	if [ -s "$work/error" ]; then
		why=$(sed -n '1p' "$work/error")
		[ "$files_only" = 1 ] && die 4 "viva's answer was refused, nothing written: $why"
		fail_reported 4 "viva's answer was refused, nothing written: $why"
	fi
	api=$(cat "$work/api")
	token=$(cat "$work/token")
	secret_token=${token#*.}
	secret_ckey=$(cat "$work/ckey")
	role=$(cat "$work/role")
	version=$(cat "$work/version")

	if [ "$files_only" = 1 ]; then
		write_files || die 1 "the files could not be written"
		say "files written under ${root:-/}; nothing else done (--files-only)"
		exit 0
	fi

	joined=0
	[ ! -e "$root/etc/kubernetes/kubelet.conf" ] || joined=1
	if [ "$upgrade_flag" = 1 ] || [ "$(cat "$work/upgrade")" = true ]; then
		if [ "$joined" = 1 ]; then
			phase=upgrade
		else
			phase="join"
			note "not joined yet ($root/etc/kubernetes/kubelet.conf is absent): joining rather than upgrading"
		fi
	elif [ "$joined" = 1 ]; then
		say "already joined ($root/etc/kubernetes/kubelet.conf exists) and viva asks for no upgrade: nothing to do (kubeadm reset first to join again)"
		exit 0
	fi

	kubeadm_version=$(kubeadm version -o short </dev/null 2>/dev/null) || kubeadm_version=""
	if [ "$phase" = upgrade ]; then
		if [ -n "$version" ] && [ "$kubeadm_version" != "v$version" ]; then
			fail_reported 1 "kubeadm here is ${kubeadm_version:-missing}, the cluster config wants $version: install kubeadm and kubelet $version (the node's packages or image) first; nothing written"
		fi
		if [ "$role" = master ] && [ -z "$version" ]; then
			fail_reported 1 "a master upgrades with kubeadm upgrade apply VERSION, and the answer has no settings.kubernetesVersion; nothing written"
		fi
	else
		if [ -n "$version" ] && [ "$kubeadm_version" != "v$version" ]; then
			note "warning: kubeadm here is ${kubeadm_version:-missing}, the cluster config wants $version"
		fi
		if [ "$role" = master ] && [ -z "$secret_ckey" ] &&
			{ [ ! -f "$root/etc/kubernetes/pki/ca.crt" ] || [ ! -f "$root/etc/kubernetes/pki/ca.key" ]; }; then
			fail_reported 1 "a master joins with kubeadm join --control-plane, which needs the control plane's certificates: the answer has no join.certificateKey and $root/etc/kubernetes/pki has no ca.crt and ca.key; nothing written"
		fi
	fi

	write_files || fail_reported 1 "the files could not be written"
	restart_services || fail_reported 1 "the services could not be restarted"

	if [ "$phase" = join ]; then
		step systemctl enable kubelet.service || fail_reported 1 "kubelet could not be enabled"
		step systemctl restart kubelet.service || fail_reported 1 "kubelet could not be restarted"
		set -- join "$api" --token "$token"
		while IFS= read -r hash; do
			set -- "$@" --discovery-token-ca-cert-hash "$hash"
		done <"$work/hashes"
		set -- "$@" --node-name "$name"
		if [ "$role" = master ]; then
			set -- "$@" --control-plane
			[ -z "$secret_ckey" ] || set -- "$@" --certificate-key "$secret_ckey"
		fi
		step kubeadm "$@" || fail_reported 1 "the node did not join"
		say "joined the cluster at $api as a $role"
	else
		if [ "$role" = master ]; then
			step kubeadm upgrade apply --yes "v$version" || fail_reported 1 "the node was not upgraded"
		else
			step kubeadm upgrade node || fail_reported 1 "the node was not upgraded"
		fi
		step systemctl restart kubelet.service || fail_reported 1 "kubelet could not be restarted"
		say "upgraded${version:+ to $version}"
	fi
	report "$phase" true || exit 5
	exit 0
}

main "$@"
