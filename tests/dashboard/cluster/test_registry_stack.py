"""`make run` in cluster mode (MESHSCOPE_CLUSTER=kubernetes): only the dashboard's parts start, and
the map and /api/registry show what the real API server holds, read with the shipped ClusterRole."""

from __future__ import annotations

import json
import re

from tests.dashboard.test_stack import ctrl_c_and_check_nothing_is_left, log_in, start_stack
from tests.support import kubebookinfo
from tests.support.kuberoles import bind_shipped_role
from tests.support.ports import free_port
from tests.support.processes import log_tail, stop_process
from tests.support.waiting import wait_until


def test_make_run_in_cluster_mode_maps_the_cluster_without_a_local_mesh(tmp_path, kube):
    api = kube.client()
    loaded = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
    bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")
    port = free_port()
    env = {
        "MESHSCOPE_CLUSTER": "kubernetes",
        "MESHSCOPE_KUBECONFIG": str(kube.kubeconfig("meshscope-dashboard")),
        "MESHSCOPE_KUBE_NAMESPACES": loaded.namespace,
        # Generous for a loaded 2-core machine (the default is 0.25 s): events come at once anyway.
        "MESHSCOPE_KUBE_WATCH_IDLE": "0.5",
    }
    process, log = start_stack(tmp_path, port, [], env)
    try:
        wait_until(
            lambda: "Meshscope is up" in log.read_text() or process.poll() is not None,
            timeout=120,
            what="the launcher",
        )
        output = log.read_text()
        assert f"Meshscope is up: http://127.0.0.1:{port}/" in output, log_tail(log)
        assert "cluster mode: reading Kubernetes through kubeconfig" in output
        assert "started mesh" not in output
        password = re.search(r"with password: (\S+)", output).group(1)
        opener = log_in(f"http://127.0.0.1:{port}", "admin", password)

        def get(path: str):
            with opener.open(f"http://127.0.0.1:{port}{path}", timeout=20) as answer:
                return json.loads(answer.read())

        def mapped_workloads():
            try:
                nodes = get("/api/topology")["map"]["nodes"]
            except OSError:  # 503 before the first poll
                return set()
            return {n["id"] for n in nodes if n["id"].startswith("wl:")}

        wait_until(lambda: "wl:reviews-v3" in mapped_workloads(), timeout=90, what="the first cluster poll")
        assert {"wl:productpage-v1", "wl:ratings-v1"} <= mapped_workloads()
        registry = get("/api/registry")
        assert {w["namespace"] for w in registry["workloads"]} == {loaded.namespace}
        assert len(registry["workloads"]) == 6

        kubebookinfo.delete_pod(api, loaded, loaded.pods["ratings-v1"][0])
        wait_until(
            lambda: "wl:ratings-v1" not in mapped_workloads(),
            timeout=60,
            what="the deleted pod's workload to leave",
        )

        started = {int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.read_text())}
        ctrl_c_and_check_nothing_is_left(process, log, started)
    finally:
        stop_process(process)
