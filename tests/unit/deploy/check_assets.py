#!/usr/bin/env python3
"""Checks the shipped assets against the metric contract, so a renamed metric breaks CI:
every PromQL expression in dashboards/*.json parses (promtool check rules) and names only
metrics listed in docs/metrics.md; the Kubernetes manifests parse as YAML and probe the
collector's real endpoints."""
import glob, json, os, re, subprocess, sys, tempfile

import yaml

root = sys.argv[1]
promtool = sys.argv[2]
documented = set(re.findall(r"`(fraiseql_[a-z0-9_]+)`", open(os.path.join(root, "docs/metrics.md")).read()))
assert documented, "no metrics found in docs/metrics.md"

failures = []
exprs = []
for path in glob.glob(os.path.join(root, "dashboards", "*.json")):
    doc = json.load(open(path))
    for panel in doc["panels"]:
        for t in panel.get("targets", []):
            exprs.append((os.path.basename(path), panel["title"], t["expr"]))
assert exprs, "no dashboard expressions found"

for name, title, expr in exprs:
    for metric in re.findall(r"\b(fraiseql_[a-z0-9_]+)", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        if metric not in documented and base not in documented:
            failures.append(f"{name} / {title}: {metric} is not in docs/metrics.md")

# promtool validates PromQL in rule files; Grafana's $__rate_interval and $service are
# substituted with what Grafana would put there.
rules = {"groups": [{"name": "dashboard", "rules": [
    {"record": f"dashboard:expr{i}",
     "expr": e.replace("$__rate_interval", "5m").replace("$service", ".*")}
    for i, (_, _, e) in enumerate(exprs)]}]}
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    yaml.safe_dump(rules, f)
r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
os.unlink(f.name)
if r.returncode != 0:
    failures.append("promtool check rules on dashboard expressions:\n" + r.stdout + r.stderr)

docs = list(yaml.safe_load_all(open(os.path.join(root, "deploy/kubernetes/daemonset.yaml"))))
ds = [d for d in docs if d and d.get("kind") == "DaemonSet"]
if len(ds) != 1:
    failures.append("deploy/kubernetes/daemonset.yaml: expected one DaemonSet")
else:
    spec = ds[0]["spec"]["template"]["spec"]
    c = spec["containers"][0]
    if not spec.get("hostPID"):
        failures.append("DaemonSet must run with hostPID (kernel reports host TGIDs)")
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        failures.append("DaemonSet probes must use /healthz and /readyz")
    if not c["securityContext"].get("privileged"):
        failures.append("DaemonSet container must be privileged (BPF, tracefs)")

for f in failures:
    print("FAIL:", f)
print(f"{len(exprs)} dashboard expressions checked, {len(failures)} failures")
sys.exit(1 if failures else 0)
