"""The real local mesh with a test dashboard beside it, for benchmarks that measure the two together."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.dashboard.procs import Dashboard
from tests.support.mesh import RunningMesh, start_mesh, stop_mesh
from tests.support.samples import sample


@contextmanager
def mesh_and_dashboard(**dashboard_env: str) -> Iterator[tuple[RunningMesh, Dashboard]]:
    """Redis, the mesh (BookInfo's destination rules applied) and a dashboard reading it (Daphne,
    Celery worker and beat), in a temporary directory; all stopped, by PID, when the block ends.
    `dashboard_env` adds settings to the dashboard's environment."""
    from dashboard.redis_server import start_redis

    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        redis = start_redis(log_path=root / "redis.log")
        mesh = start_mesh(root)
        dashboard = None
        try:
            mesh.apply_ok(sample("destination-rule-all"))
            (root / "dash").mkdir()
            dashboard = Dashboard(
                root / "dash",
                redis.url,
                mesh.api_url,
                MESHCORE_TRACER_URL=mesh.tracer_url,
                MESHCORE_STATE_DIR=str(mesh.state_dir),
                **dashboard_env,
            )
            yield mesh, dashboard
        finally:
            if dashboard is not None:
                dashboard.stop()
            stop_mesh(mesh)
            redis.stop()
