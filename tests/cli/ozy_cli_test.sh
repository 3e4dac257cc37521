#!/usr/bin/env bash
# The `ozy` command driven as a user and a script would drive it: exit codes
# (docs/cli.md), normalised output, error text on stderr, problem documents
# with -o json, and the limits on input files (size, alias expansion).
#
# Run by ctest with OZY (the ozy binary) and EXAMPLES (the examples directory)
# in the environment. Prints one line per check and ends with
# "N passed, M failed"; exits 1 if any check failed.
set -uo pipefail

: "${OZY:?set OZY to the path of the ozy binary}"
: "${EXAMPLES:?set EXAMPLES to the examples directory}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0

pass() {
  echo "ok     $1"
  passed=$((passed + 1))
}

# fail NAME: also shows what the last command did, to debug from the log alone.
fail() {
  echo "FAILED $1"
  echo "       exit status: $rc"
  sed -n '1,15s/^/       stdout: /p' "$work/stdout"
  sed -n '1,15s/^/       stderr: /p' "$work/stderr"
  failed=$((failed + 1))
}

# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# run COMMAND...: runs it, keeping its exit status in $rc and its output in
# $work/stdout and $work/stderr (and $out and $err).
run() {
  "$@" >"$work/stdout" 2>"$work/stderr"
  rc=$?
  out=$(<"$work/stdout")
  err=$(<"$work/stderr")
}

status_is() { [[ $rc -eq $1 ]]; }
contains() { [[ $1 == *"$2"* ]]; }

# json_ok PYTHON-EXPRESSION: evaluates it with `doc` bound to the JSON on
# $work/stdout; passes when the output is JSON and the expression is true.
json_ok() {
  python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$work/stdout" "$1" 2>/dev/null
}

now_ms() { date +%s%3N; }

webapp=$EXAMPLES/webapp.yaml
cluster=$EXAMPLES/cluster.yaml
rc=0
: >"$work/stdout"
: >"$work/stderr"

# --- ozy job validate --------------------------------------------------------

run "$OZY" job validate "$webapp"
check "job validate accepts the example (exit 0)" status_is 0
check "job validate prints normalised YAML with memory: \"2G\"" contains "$out" 'memory: "2G"'
check "job validate fills in defaults (interval 60 becomes \"1m\")" contains "$out" 'interval: "1m"'

# The normalised YAML is itself a valid job file.
cp "$work/stdout" "$work/normalised.yaml"
run "$OZY" job validate "$work/normalised.yaml"
check "job validate accepts its own normalised output" status_is 0

run "$OZY" job validate "$webapp" -o json
check "job validate -o json exits 0" status_is 0
check "job validate -o json prints JSON with name simple-webapp" \
  json_ok 'doc["name"] == "simple-webapp" and doc["numInstances"] == 3'
check "job validate -o json writes sizes as the file does" \
  json_ok 'doc["containers"]["app"]["memory"] == "2G"'

run "$OZY" job validate - <"$webapp"
check "job validate - reads standard input" status_is 0

sed 's/^    memory: 2G /    memory: 2X /' "$webapp" >"$work/bad-memory.yaml"
run "$OZY" job validate "$work/bad-memory.yaml"
check "job validate refuses memory: 2X (exit 1)" status_is 1
check "job validate names containers.app.memory on stderr" contains "$err" "containers.app.memory"
check "job validate quotes the bad value on stderr" contains "$err" '"2X" is not a size'
check "job validate prints nothing on stdout for a bad file" test -z "$out"

run "$OZY" job validate "$work/bad-memory.yaml" -o json
check "job validate -o json refuses the bad file (exit 1)" status_is 1
check "job validate -o json prints a problem document of type #invalid-job" \
  json_ok 'doc["type"].endswith("#invalid-job") and doc["status"] == 422'
check "the problem document lists containers.app.memory with its line" \
  json_ok 'any(e["path"] == "containers.app.memory" and e["line"] > 0 for e in doc["errors"])'

cat >"$work/many-problems.yaml" <<'EOF'
name: Web
containers:
  app:
    image: nginx
    memroy: 1G
    restart: alway
EOF
reports_all_three() {
  status_is 1 && contains "$err" "name:" && contains "$err" "memroy" && contains "$err" "alway"
}
run "$OZY" job validate "$work/many-problems.yaml"
check "job validate lists every problem, not just the first" reports_all_three

# Text that is not UTF-8 is an invalid job, in every spelling of a value,
# and never a crash when the job is written out as JSON.
printf 'name: web\ncontainers:\n  app:\n    image: nginx\n    environment: ["A=caf\xe9"]\n' \
  >"$work/latin1.yaml"
run "$OZY" job validate "$work/latin1.yaml" -o json
check "job validate -o json refuses a value that is not UTF-8 (exit 1, no crash)" status_is 1
check "job validate -o json says the value is not UTF-8" \
  json_ok 'any("not valid UTF-8" in e["message"] for e in doc["errors"])'

# An ephemeral host port on a given address survives normalisation.
printf 'name: web\ncontainers:\n  app:\n    image: nginx\n    ports: ["127.0.0.1::3000"]\n' \
  >"$work/ephemeral.yaml"
run "$OZY" job validate "$work/ephemeral.yaml"
check "job validate keeps 127.0.0.1::3000 as written" contains "$out" '"127.0.0.1::3000"'
cp "$work/stdout" "$work/ephemeral-normalised.yaml"
run "$OZY" job validate "$work/ephemeral-normalised.yaml"
check "job validate accepts its own output for 127.0.0.1::3000" status_is 0

# A 100 MB file is refused from its size, without being read or parsed.
truncate -s 100M "$work/huge.yaml"
start=$(now_ms)
run "$OZY" job validate "$work/huge.yaml"
elapsed=$(($(now_ms) - start))
check "job validate refuses a 100 MB file (exit 1)" status_is 1
check "job validate says the 100 MB file is too large" contains "$err" "too large"
check "job validate refuses the 100 MB file in well under a second (${elapsed} ms)" \
  test "$elapsed" -lt 1000

# The same through a pipe, where the size is unknown until read: ozy stops
# reading after the limit instead of taking in all 100 MB.
start=$(now_ms)
run "$OZY" job validate - < <(head -c 100M /dev/zero)
elapsed=$(($(now_ms) - start))
check "job validate refuses 100 MB on standard input (exit 1)" status_is 1
check "job validate says standard input is too large" contains "$err" "too large"
check "job validate stops reading standard input early (${elapsed} ms)" test "$elapsed" -lt 1000

run "$OZY" job validate "$work/huge.yaml" -o json
check "job validate -o json gives a #job-file-too-large problem (413)" \
  json_ok 'doc["type"].endswith("#job-file-too-large") and doc["status"] == 413'

# Under 1 MiB as written, but its command is a 400 KiB string and 140,000
# aliases of it: 56 GB once expanded. Refused as an invalid job while it is
# read, instead of being copied out until memory runs out.
python3 - "$work/alias-bomb.yaml" <<'PY'
import sys
aliases = ", *a" * 140_000
with open(sys.argv[1], "w") as f:
    f.write('name: web\ncontainers:\n  app:\n    image: nginx\n')
    f.write('    command: [&a "' + "x" * 400 * 1024 + '"' + aliases + "]\n")
PY
run "$OZY" job validate "$work/alias-bomb.yaml"
check "job validate refuses a long string aliased 140,000 times (exit 1)" status_is 1
check "job validate says the file is too large once aliases are expanded" \
  contains "$err" "too large once aliases are expanded: more than 4194304 bytes (line 5)"
check "job validate prints nothing on stdout for the alias bomb" test -z "$out"
run "$OZY" job validate "$work/alias-bomb.yaml" -o json
check "job validate -o json gives the alias bomb as an #invalid-job problem (422)" \
  json_ok 'doc["type"].endswith("#invalid-job") and doc["status"] == 422'

run "$OZY" job validate "$work/does-not-exist.yaml"
check "job validate on a missing file exits 1" status_is 1
check "job validate on a missing file says it cannot open it" contains "$err" "cannot open"

# --- usage errors --------------------------------------------------------------

run "$OZY" job validate --no-such-flag "$webapp"
check "an unknown flag exits 2" status_is 2
run "$OZY" job validate "$webapp" -o xml
check "an unknown output format exits 2" status_is 2
run "$OZY"
check "no subcommand exits 2" status_is 2
run "$OZY" job validate
check "a missing FILE exits 2" status_is 2
run "$OZY" --help
check "--help exits 0" status_is 0

# --- ozy plan ------------------------------------------------------------------

run "$OZY" plan --cluster "$cluster" "$webapp"
check "plan places the example (exit 0)" status_is 0
nodes_used=$(awk '$1 == "simple-webapp" { print $3 }' "$work/stdout")
check "plan places 3 instances" test "$(wc -l <<<"$nodes_used")" -eq 3
check "plan puts each instance on a different node (${nodes_used//$'\n'/ })" \
  test "$(sort -u <<<"$nodes_used" | wc -l)" -eq 3

sed 's/^numInstances: 3$/numInstances: 10/' "$webapp" >"$work/ten.yaml"
run "$OZY" plan --cluster "$cluster" "$work/ten.yaml"
check "plan exits 3 when a job does not fit" status_is 3
check "plan says \"Insufficient memory for job\"" \
  contains "$out$err" "Insufficient memory for job"
check "plan says how much memory can be allocated" contains "$out$err" "can be allocated"

run "$OZY" plan --cluster "$cluster" "$webapp" -o json
check "plan -o json exits 0" status_is 0
check "plan -o json gives placed, rejected and nodes" \
  json_ok 'isinstance(doc["placed"], list) and doc["rejected"] == [] and len(doc["nodes"]) == 3'
check "plan -o json places 3 instances on 3 distinct nodes" \
  json_ok 'len({i["node"] for i in doc["placed"][0]["instances"]}) == 3'

run "$OZY" plan --cluster "$cluster" "$work/ten.yaml" -o json
check "plan -o json exits 3 when a job does not fit" status_is 3
check "plan -o json lists the rejection as an #insufficient-memory problem" \
  json_ok 'doc["placed"] == [] and doc["rejected"][0]["type"].endswith("#insufficient-memory")'

run "$OZY" plan --cluster "$cluster" "$work/bad-memory.yaml"
check "plan exits 1 on an invalid job file" status_is 1

printf 'nodes:\n  - {name: node-a, disk: 1G}\n' >"$work/bad-cluster.yaml"
run "$OZY" plan --cluster "$work/bad-cluster.yaml" "$webapp"
check "plan exits 1 on an invalid cluster file" status_is 1
check "plan names the cluster file's missing field" contains "$err" "nodes[0].memory"

run "$OZY" plan "$webapp"
check "plan without --cluster exits 2" status_is 2

# The pod network's config is checked before etcd is asked anything.
run "$OZY" network init --network 10.244.0.1/16 --etcd http://127.0.0.1:1
check "network init refuses a network with host bits set (exit 1)" status_is 1
check "network init says what the network would be" contains "$err" "10.244.0.0/16"
run "$OZY" network init --network 10.244.0.0/16 --backend vxlan --etcd http://127.0.0.1:1
check "network init refuses a backend this agent lacks (exit 1)" status_is 1
check "network init names host-gw as what it has" contains "$err" "host-gw"

# Agent flags from a file: a misspelt one is an error, not dropped.
printf 'memroy = "2G"\n' >"$work/agent.toml"
run "$OZY" agent --config "$work/agent.toml"
check "agent --config refuses an unknown flag (exit 2)" status_is 2
check "agent --config suggests the flag meant" contains "$err" "did you mean memory?"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
