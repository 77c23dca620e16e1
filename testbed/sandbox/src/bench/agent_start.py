#!/usr/bin/env python3
"""azp-agent: wall time from start to the exec of config.sh, and peak RSS (issue 5 benchmark).

Usage: agent_start.py AZP_AGENT_BIN EMULATOR_BIN MOTO_SERVER_BIN [RUNS] [--skip-preflight]
config.sh records bash's $EPOCHREALTIME (no fork) and exits 1, so `run` stops right after it
(exit 12, nothing registered). Start = time.time() just before the fork/exec of azp-agent.
Peak RSS = ru_maxrss of wait4() on azp-agent (its own, or a waited-for child's if larger:
bash running config.sh is ~4 MiB).
"""
import os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

agent, emulator_bin, moto_bin = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4].isdigit() else 20
skip_preflight = "--skip-preflight" in sys.argv

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

work = tempfile.mkdtemp(prefix="agent-start-")
home = os.path.join(work, "home")
os.makedirs(home)
for script in ("config.sh", "run.sh"):
    path = os.path.join(home, script)
    with open(path, "w") as f:
        f.write('#!/bin/bash\necho "$EPOCHREALTIME" > "$(dirname "$0")/stamp"\nexit 1\n')
    os.chmod(path, 0o755)
token = os.path.join(work, "token")
with open(token, "w") as f:
    f.write("bench-pat")

moto_port = free_port()
moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
emu = subprocess.Popen([emulator_bin, "--listen", "127.0.0.1:0", "--org", "contoso", "--pool", "Linux"],
                       env={**os.environ, "AZP_EMULATOR_PAT": "bench-pat"},
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
org = emu.stdout.readline().strip().removeprefix("listening on ")
moto_url = f"http://127.0.0.1:{moto_port}"
for _ in range(100):
    try:
        urllib.request.urlopen(moto_url + "/moto-api/", timeout=1)
        break
    except Exception:
        time.sleep(0.1)

env = {
    "PATH": os.environ["PATH"], "HOME": work,
    "AZP_URL": org, "AZP_POOL": "Linux", "AZP_AGENT_NAME": "bench-agent",
    "AZP_AGENT_HOME": home, "AZP_TOKEN_FILE": token, "AZP_WORK": os.path.join(work, "_work"),
    "AZP_TERMINATION_LOG": os.path.join(work, "termination-log"),
    "AZP_ECR_REGION": "us-east-1", "AZP_ECR_REGISTRY": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "AZP_ECR_API_ENDPOINT": moto_url, "AWS_ENDPOINT_URL_STS": moto_url,
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true", "AZP_REQUIRE_PRIVATE_ENDPOINT": "false",
    "DOCKER_CONFIG": os.path.join(work, "docker"),
}
args = [agent, "run", "--allow-insecure-http", "--deregister-attempts", "1"]
if skip_preflight:
    args.append("--skip-preflight")

def once():
    stamp = os.path.join(home, "stamp")
    if os.path.exists(stamp):
        os.remove(stamp)
    start = time.time()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode(errors="replace")
    if not os.path.exists(stamp):
        sys.exit(f"config.sh did not run (status {status}):\n{err[-2000:]}")
    docker_config = os.path.join(env["DOCKER_CONFIG"], "config.json")
    if not os.path.exists(docker_config):
        sys.exit("ECR login did not write $DOCKER_CONFIG/config.json")
    os.remove(docker_config)
    return (float(open(stamp).read()) - start) * 1000, usage.ru_maxrss / 1024

try:
    once()  # warm: moto has issued a token, caches and page cache are hot
    samples = [once() for _ in range(runs)]
finally:
    emu.terminate(); moto.terminate()
ms = sorted(s[0] for s in samples)
rss = sorted(s[1] for s in samples)
print(f"runs={runs} preflight={'skipped' if skip_preflight else 'on'} "
      f"start->config.sh ms: min={ms[0]:.1f} median={statistics.median(ms):.1f} max={ms[-1]:.1f}; "
      f"peak RSS MiB: median={statistics.median(rss):.1f} max={rss[-1]:.1f}")
