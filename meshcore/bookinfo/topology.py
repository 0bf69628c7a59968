"""Which BookInfo workloads exist and which ports each one gets on this machine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from meshcore.model.registry import Gateway, Registry, Service, Workload

# (app, version) of every workload, in the order the port blocks are handed out.
BOOKINFO_WORKLOADS: tuple[tuple[str, str], ...] = (
    ("productpage", "v1"),
    ("details", "v1"),
    ("reviews", "v1"),
    ("reviews", "v2"),
    ("reviews", "v3"),
    ("ratings", "v1"),
)
SERVICE_PORT = 9080
# Each workload owns a block of consecutive ports: app, inbound, outbound (the rest stay free).
PORTS_PER_WORKLOAD = 10


def bookinfo_registry(
    base_port: int = 16000,
    gateway_port: int = 8080,
    address: str = "127.0.0.1",
    gateway_address: str = "127.0.0.1",
    admin_dir: Path | None = None,
) -> Registry:
    """The registry of the local BookInfo mesh; workload i uses ports base_port + 10*i + 0..2.
    Workloads listen on `address`; the gateway's public listener on `gateway_address`. Every Envoy's
    admin API is the Unix socket `admin_dir/<workload or gateway name>.sock` (none without admin_dir)."""

    def socket(name: str) -> str:
        return str(admin_dir / f"{name}.sock") if admin_dir is not None else ""

    services = tuple(Service(name) for name in dict.fromkeys(app for app, _ in BOOKINFO_WORKLOADS))
    workloads = []
    for index, (app, version) in enumerate(BOOKINFO_WORKLOADS):
        block = base_port + PORTS_PER_WORKLOAD * index
        workloads.append(
            Workload(
                name=f"{app}-{version}",
                service=app,
                labels={"app": app, "version": version},
                address=address,
                app_port=block,
                inbound_port=block + 1,
                outbound_port=block + 2,
                admin_socket=socket(f"{app}-{version}"),
                # Istio's BookInfo runs each app under its own service account.
                service_account=f"bookinfo-{app}",
            )
        )
    gateway = Gateway(address=gateway_address, port=gateway_port)
    gateway = replace(gateway, admin_socket=socket(gateway.name))
    return Registry(services=services, workloads=tuple(workloads), gateway=gateway)


def port_span() -> int:
    """How many consecutive ports from base_port the BookInfo workloads occupy."""
    return PORTS_PER_WORKLOAD * len(BOOKINFO_WORKLOADS)
