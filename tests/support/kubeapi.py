"""A real etcd + kube-apiserver for the cluster-mode tests, on free loopback ports.

The API server is built from Debian's source package by `make kube-apiserver`
(tests/support/build_kube_apiserver.sh) and cached outside the repository; etcd is Debian's
`etcd-server`. Only the API server runs: no controller-manager, scheduler or kubelet, so Deployments
make no Pods and nothing fills Endpoints; tests create Pods and Endpoints themselves and set pod
status with `patch_namespaced_pod_status`.

Users come from a static token file: `admin` (system:masters) and the unprivileged
`meshscope-dashboard` and `meshscope-viewer`, which have no rights until a test binds a role to them
(the shipped ClusterRoles, for the least-privilege tests), and `nobody`, which never gets any.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.ports import free_port
from tests.support.processes import log_tail, start_process, stop_process

VERSION = "1.20.2"
SKIP_REASON = (
    "KUBE-APISERVER TEST SKIPPED: no kube-apiserver/etcd here (run `make kube-apiserver` as root: "
    "builds one from Debian's source package)"
)
USERS = ("admin", "meshscope-dashboard", "meshscope-viewer", "nobody")

# Istio's CRDs as a cluster with Istio installed has them (group, kind, plural, scope), schemaless:
# the API server stores what it is given, as Istio's own CRDs do with
# `x-kubernetes-preserve-unknown-fields`. Istio's validating webhook does not run here.
ISTIO_KINDS = (
    ("networking.istio.io", "VirtualService", "virtualservices"),
    ("networking.istio.io", "DestinationRule", "destinationrules"),
    ("networking.istio.io", "Gateway", "gateways"),
    ("security.istio.io", "PeerAuthentication", "peerauthentications"),
    ("security.istio.io", "AuthorizationPolicy", "authorizationpolicies"),
)


def cache_dir() -> Path:
    base = os.environ.get("MESHSCOPE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "meshscope"
    )
    return Path(base) / f"kube-apiserver-{VERSION}"


def find_binaries() -> tuple[str, str] | None:
    """(kube-apiserver, etcd) paths, or None when either is missing."""
    apiserver = os.environ.get("MESHSCOPE_KUBE_APISERVER") or str(cache_dir() / "kube-apiserver")
    etcd = shutil.which("etcd")
    if not (Path(apiserver).is_file() and os.access(apiserver, os.X_OK)) or etcd is None:
        return None
    return apiserver, etcd


def istio_crd(group: str, kind: str, plural: str) -> dict:
    schema = {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": schema},
                {"name": "v1beta1", "served": True, "storage": False, "schema": schema},
            ],
        },
    }


@dataclass
class KubeCluster:
    """A running API server. `kubeconfig(user)` is a file the official client loads as it is."""

    url: str
    ca_cert: Path
    root: Path
    tokens: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def kubeconfig(self, user: str = "admin") -> Path:
        path = self.root / f"kubeconfig-{user}.yaml"
        if not path.exists():
            document = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": self.url, "certificate-authority": str(self.ca_cert)},
                    }
                ],
                "users": [{"name": user, "user": {"token": self.tokens[user]}}],
                "contexts": [{"name": f"{user}@test", "context": {"cluster": "test", "user": user}}],
                "current-context": f"{user}@test",
            }
            path.write_text(yaml.safe_dump(document))
            path.chmod(0o600)
        return path

    def client(self, user: str = "admin"):
        """A `kubernetes.client.ApiClient` for `user` (its own Configuration, not the global one)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_cert)
        configuration.api_key = {"authorization": "Bearer " + self.tokens[user]}
        return client.ApiClient(configuration)


def _write_service_account_keys(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / "sa.key"
    public = directory / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private.chmod(0o600)
    return private, public


def _wait_ready(cluster: KubeCluster, process: subprocess.Popen, log: Path, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    headers = {"Authorization": "Bearer " + cluster.tokens["admin"]}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kube-apiserver exited {process.returncode}:\n{log_tail(log)}")
        if cluster.ca_cert.exists():
            try:
                answer = requests.get(
                    cluster.url + "/readyz", headers=headers, verify=str(cluster.ca_cert), timeout=2
                )
                if answer.status_code == 200:
                    return
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"kube-apiserver not ready after {timeout} s:\n{log_tail(log)}")


def _wait_crds_established(cluster: KubeCluster, timeout: float = 60.0) -> None:
    from kubernetes import client

    api = client.ApiextensionsV1Api(cluster.client())
    for group, kind, plural in ISTIO_KINDS:
        api.create_custom_resource_definition(istio_crd(group, kind, plural))
    deadline = time.monotonic() + timeout
    custom = client.CustomObjectsApi(cluster.client())
    pending = list(ISTIO_KINDS)
    while pending and time.monotonic() < deadline:
        group, _, plural = pending[0]
        try:
            custom.list_namespaced_custom_object(group, "v1", "default", plural)
            pending.pop(0)
        except client.ApiException:
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"Istio CRDs not served after {timeout} s: {pending}")


def start_kube(root: Path, timeout: float = 90.0) -> KubeCluster:
    """Start etcd and the API server under `root`, load Istio's CRDs; raise with logs on failure."""
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError(SKIP_REASON)
    apiserver, etcd = binaries
    root.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_process = start_process(
        [
            etcd,
            "--data-dir",
            str(root / "etcd"),
            "--listen-client-urls",
            f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-cluster",
            f"default=http://127.0.0.1:{peer_port}",
        ],
        root / "etcd.log",
    )
    tokens = {user: secrets.token_hex(16) for user in USERS}
    token_file = root / "tokens.csv"
    # token,user,uid[,"groups"]: only the admin is in a group with rights.
    token_file.write_text(
        "".join(
            f"{token},{user},{user}" + (',"system:masters"' if user == "admin" else "") + "\n"
            for user, token in tokens.items()
        )
    )
    token_file.chmod(0o600)
    signing_key, verifying_key = _write_service_account_keys(root)
    cert_dir = root / "certs"
    cert_dir.mkdir(exist_ok=True)
    log = root / "kube-apiserver.log"
    process = start_process(
        [
            apiserver,
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--secure-port={secure_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={cert_dir}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={verifying_key}",
            f"--service-account-signing-key-file={signing_key}",
            f"--token-auth-file={token_file}",
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
            "--insecure-port=0",
        ],
        log,
    )
    cluster = KubeCluster(
        url=f"https://127.0.0.1:{secure_port}",
        ca_cert=cert_dir / "apiserver.crt",
        root=root,
        tokens=tokens,
        processes=[process, etcd_process],
    )
    try:
        _wait_ready(cluster, process, log, timeout)
        _wait_crds_established(cluster)
    except BaseException:
        stop_kube(cluster)
        raise
    return cluster


def stop_kube(cluster: KubeCluster) -> None:
    for process in cluster.processes:
        stop_process(process)


def restart_apiserver(cluster: KubeCluster, timeout: float = 90.0) -> None:
    """Stop the API server (by PID) and start it again with the same flags and etcd. Its watch
    cache is rebuilt from etcd's current revision, so watches from older resourceVersions get
    410 Gone, as after an upgrade or a long outage of a real cluster's API server."""
    process = cluster.processes[0]
    stop_process(process)
    log = cluster.root / "kube-apiserver.log"
    cluster.processes[0] = start_process(process.args, log)
    _wait_ready(cluster, cluster.processes[0], log, timeout)
