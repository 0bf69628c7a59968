"""Where the mesh puts Envoy's admin sockets: in the state directory, unless its path is too long
for a Unix socket address (107 bytes), then in a private per-user directory of the temp directory."""

from __future__ import annotations

import os
import stat

from meshcore.local_mesh import LONGEST_SOCKET_NAME, MeshSettings
from meshcore.sidecar.bootstrap import MAX_SOCKET_PATH


def test_a_short_state_directory_keeps_its_sockets(tmp_path):
    settings = MeshSettings(state_dir=tmp_path / "s")
    assert settings.admin_dir == (tmp_path / "s").absolute() / "admin"


def test_a_long_state_directory_gets_a_short_private_socket_directory(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60) / "mesh"
    admin = MeshSettings(state_dir=deep).admin_dir
    assert not str(admin).startswith(str(tmp_path))
    assert len(str(admin / LONGEST_SOCKET_NAME).encode()) <= MAX_SOCKET_PATH
    # Stable for one state directory (a restarted mesh and the dashboard find the same sockets),
    # different for another.
    assert MeshSettings(state_dir=deep).admin_dir == admin
    assert MeshSettings(state_dir=deep.with_name("other")).admin_dir != admin
    parent = admin.parent.lstat()
    assert stat.S_ISDIR(parent.st_mode) and parent.st_uid == os.getuid()
    assert stat.S_IMODE(parent.st_mode) == 0o700


def test_the_launchers_socket_fits_a_socket_address_and_stays_out_of_the_admin_directory(tmp_path):
    short = MeshSettings(state_dir=tmp_path / "s")
    assert short.launcher_socket == (tmp_path / "s").absolute() / "launcher.sock"
    deep = MeshSettings(state_dir=tmp_path / ("x" * 60) / ("y" * 60) / "mesh")
    assert len(str(deep.launcher_socket).encode()) <= MAX_SOCKET_PATH
    # In the same private per-user directory as the short admin directory, beside it (the admin
    # directory holds the Envoys' sockets only).
    assert deep.launcher_socket.parent == deep.admin_dir.parent
    assert deep.launcher_socket.parent != deep.admin_dir
