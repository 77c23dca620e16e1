"""Drives the emulator with Microsoft's Azure DevOps Python SDK (azure-devops 7.1.0b4).

Env: EMULATOR_ORG_URL, EMULATOR_PAT, EMULATOR_POOL (a pool name), AZURE_DEVOPS_CACHE_DIR (temp dir).
Asserts what the SDK returns and prints one JSON line the Rust test checks too.
"""
import json
import os
import sys

from azure.devops.connection import Connection
from azure.devops.v7_1.task_agent.models import TaskAgent
from msrest.authentication import BasicAuthentication

JOBREQUESTS_LOCATION = "fc825784-c92a-4299-9221-998a02d1b54f"

org_url = os.environ["EMULATOR_ORG_URL"]
pat = os.environ["EMULATOR_PAT"]
pool_name = os.environ["EMULATOR_POOL"]


def client(token):
    conn = Connection(base_url=org_url, creds=BasicAuthentication("", token))
    return conn.clients_v7_1.get_task_agent_client()


ta = client(pat)

pools = ta.get_agent_pools()
assert len(pools) >= 1, pools
by_name = ta.get_agent_pools(pool_name=pool_name.upper())
assert [p.name for p in by_name] == [pool_name], [p.name for p in by_name]
pool = by_name[0]
assert pool.pool_type == "automation", pool.pool_type

added = ta.add_agent(
    TaskAgent(name="sdk-agent", version="4.261.0", os_description="Linux", enabled=True,
              provisioning_state="Provisioned", max_parallelism=1,
              system_capabilities={"Agent.Version": "4.261.0", "sdk": "yes"}),
    pool.id,
)
assert added.id > 0 and added.name == "sdk-agent", added
assert added.status == "offline", added.status

listed = ta.get_agents(pool.id, agent_name="sdk-agent", include_capabilities=True)
assert [a.id for a in listed] == [added.id], listed
assert listed[0].system_capabilities.get("sdk") == "yes", listed[0].system_capabilities
without_caps = ta.get_agents(pool.id, agent_name="sdk-agent", include_capabilities=False)
assert without_caps[0].system_capabilities is None, without_caps[0].system_capabilities

got = ta.get_agent(pool.id, added.id, include_capabilities=True)
assert got.id == added.id and got.version == "4.261.0", got

updated = ta.update_agent(TaskAgent(id=added.id, enabled=False), pool.id, added.id)
assert updated.enabled is False, updated.enabled
assert ta.get_agent(pool.id, added.id).enabled is False

replaced = ta.replace_agent(
    TaskAgent(id=added.id, name="sdk-agent", version="4.262.0", os_description="Linux 6",
              system_capabilities={"Agent.Version": "4.262.0"}),
    pool.id, added.id,
)
assert replaced.id == added.id and replaced.version == "4.262.0", replaced

# Job requests are not in the SDK: use its generic sender with the advertised location.
response = ta._send(http_method="GET", location_id=JOBREQUESTS_LOCATION, version="7.1-preview.1",
                    route_values={"poolId": pool.id}, query_parameters={"completedRequestCount": 0})
unfinished = response.json()
assert unfinished["count"] == len(unfinished["value"]), unfinished
assert all("result" not in r for r in unfinished["value"]), unfinished

ta.delete_agent(pool.id, added.id)
remaining = ta.get_agents(pool.id, agent_name="sdk-agent")
assert remaining == [], remaining

bad_pat_error = None
try:
    client("not-the-pat").get_agent_pools()
except Exception as e:  # the SDK raises AzureDevOpsAuthenticationError (or a service error)
    bad_pat_error = type(e).__name__
assert bad_pat_error is not None, "a wrong PAT must make the SDK raise"

print(json.dumps({
    "poolId": pool.id,
    "poolCount": len(pools),
    "agentId": added.id,
    "replacedVersion": replaced.version,
    "unfinishedRequestIds": [r["requestId"] for r in unfinished["value"]],
    "badPatError": bad_pat_error,
}))
sys.stdout.flush()
