#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/kubernetes/ checked with what runs here (no cluster): every file is
# well-formed YAML; each object has apiVersion, kind, metadata.name and the
# namespace; the DaemonSet's selector matches its template's labels, it runs
# privileged with hostPID, enters the host's cgroup namespace, mounts bpffs
# (Bidirectional), /sys/fs/cgroup, the state and the socket directory from
# the host, the ConfigMap's policy at /etc/ward/host.yaml and its bundle key,
# and runs `ward daemon` in host mode with --ship from the Secret; the
# ConfigMap's host policy passes `ward policy check` and its key is an
# ed25519 public key ward reads.
set -u
. "$(dirname "$0")/lib.sh"
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml missing"; exit 77; }
DIR=$(cd "$(dirname "$0")/../.." && pwd)/contrib/kubernetes
T=$(test_tmpdir ward-test-k8s)
trap 'rm -rf "$T"' EXIT

out=$(python3 - "$DIR" "$T" <<'EOF'
import glob, os, sys, yaml

d, t = sys.argv[1], sys.argv[2]
objs = {}
def check(name, ok):
    print(("PASS: " if ok else "FAIL: ") + name)

files = sorted(glob.glob(os.path.join(d, "*.yaml")))
check("four manifests", len(files) == 4)
for f in files:
    try:
        docs = [x for x in yaml.safe_load_all(open(f)) if x is not None]
        check(os.path.basename(f) + ": well-formed YAML", len(docs) > 0)
    except yaml.YAMLError as e:
        check(os.path.basename(f) + ": well-formed YAML (%s)" % e, False)
        continue
    for o in docs:
        ok = all(k in o for k in ("apiVersion", "kind", "metadata")) and "name" in o["metadata"]
        check("%s: apiVersion, kind, metadata.name" % os.path.basename(f), ok)
        if not ok:
            continue
        if o["kind"] != "Namespace":
            check("%s %s: in namespace ward-system" % (o["kind"], o["metadata"]["name"]),
                  o["metadata"].get("namespace") == "ward-system")
        objs[o["kind"]] = o

for k in ("Namespace", "ServiceAccount", "ConfigMap", "Secret", "DaemonSet"):
    check("a " + k, k in objs)
ds, cm = objs.get("DaemonSet", {}), objs.get("ConfigMap", {})
check("DaemonSet apps/v1", ds.get("apiVersion") == "apps/v1")
spec = ds.get("spec", {})
sel = spec.get("selector", {}).get("matchLabels", {})
tpl = spec.get("template", {})
labels = tpl.get("metadata", {}).get("labels", {})
check("selector matches the template's labels",
      bool(sel) and all(labels.get(k) == v for k, v in sel.items()))
pod = tpl.get("spec", {})
check("hostPID", pod.get("hostPID") is True)
check("service account exists", pod.get("serviceAccountName") == objs.get("ServiceAccount", {}).get("metadata", {}).get("name"))
cs = pod.get("containers", [])
check("one container", len(cs) == 1)
c = cs[0] if cs else {}
check("privileged", c.get("securityContext", {}).get("privileged") is True)
cmd = c.get("command", []) + c.get("args", [])
check("enters the host's cgroup namespace (nsenter --target 1 --cgroup)",
      cmd[:4] == ["nsenter", "--target", "1", "--cgroup"])
def arg(flag):
    return cmd[cmd.index(flag) + 1] if flag in cmd and cmd.index(flag) + 1 < len(cmd) else None
check("runs ward daemon", any(x.endswith("/ward") for x in cmd) and "daemon" in cmd)
for flag in ("--state", "--log", "--socket", "--host-policy", "--pin-dir", "--ship",
             "--policy-source", "--bundle-key"):
    check("daemon arg " + flag, arg(flag) is not None)
check("--host-policy /etc/ward/host.yaml", arg("--host-policy") == "/etc/ward/host.yaml")
check("--pin-dir under /sys/fs/bpf", (arg("--pin-dir") or "").startswith("/sys/fs/bpf/"))
env = {e["name"]: e for e in c.get("env", [])}
ship = arg("--ship") or ""
var = ship[2:-1] if ship.startswith("$(") and ship.endswith(")") else None
ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {}) if var else {}
sec = objs.get("Secret", {})
check("--ship from the Secret's key", ref.get("name") == sec.get("metadata", {}).get("name")
      and ref.get("key") in sec.get("stringData", sec.get("data", {})))
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
def host_mount(path, host):
    m = mounts.get(path)
    return bool(m) and vols.get(m["name"], {}).get("hostPath", {}).get("path") == host
check("bpffs from the host, Bidirectional", host_mount("/sys/fs/bpf", "/sys/fs/bpf")
      and mounts["/sys/fs/bpf"].get("mountPropagation") == "Bidirectional")
check("/sys/fs/cgroup from the host", host_mount("/sys/fs/cgroup", "/sys/fs/cgroup"))
check("state from the host", host_mount(arg("--state") or "?", "/var/lib/ward"))
check("socket directory from the host",
      host_mount(os.path.dirname(arg("--socket") or "/?"), "/run/ward"))
check("policy source from the host", host_mount(arg("--policy-source") or "?", "/var/lib/ward-bundles"))
for path, key in (("/etc/ward/host.yaml", "host.yaml"), (arg("--bundle-key"), "bundle.pub.pem")):
    m = mounts.get(path, {})
    check(path + " from the ConfigMap's " + key,
          vols.get(m.get("name"), {}).get("configMap", {}).get("name") == cm.get("metadata", {}).get("name")
          and m.get("subPath") == key and key in cm.get("data", {}))
for key in ("host.yaml", "bundle.pub.pem"):
    with open(os.path.join(t, key), "w") as f:
        f.write(cm.get("data", {}).get(key, ""))
EOF
)
echo "$out"
PASSED=$((PASSED + $(grep -c '^PASS' <<<"$out")))
FAILED=$((FAILED + $(grep -c '^FAIL' <<<"$out")))

out=$("$WARD" policy check "$T/host.yaml" 2>&1)
check "the ConfigMap's host policy passes ward policy check: $out" [ $? -eq 0 ]
# the key: a bundle signed by another key is refused with it, so it was read as a key
"$WARD" policy bundle keygen -o "$T/k.pem" >/dev/null
printf 'version: 1\nextends: [deny-all]\n' >"$T/dev.yaml"
"$WARD" policy bundle --key "$T/k.pem" -o "$T/b.bundle" --version 1 "$T/dev.yaml" >/dev/null
out=$("$WARD" policy bundle verify --pub "$T/bundle.pub.pem" "$T/b.bundle" 2>&1)
check "the ConfigMap's bundle key is an ed25519 key ward reads" grep -q "bad signature" <<<"$out"
finish
