"""The control plane process gets the launcher's settings as `meshcore up`'s options, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshcore.controlplane_process import parse_settings
from meshcore.local_mesh import MeshSettings


@pytest.mark.parametrize("ca_dir", [None, Path("/etc/plugged-ca")])
def test_the_settings_survive_the_trip_through_the_command_line(tmp_path, ca_dir):
    settings = MeshSettings(
        state_dir=(tmp_path / "mesh").absolute(),
        gateway_port=18080,
        gateway_address="0.0.0.0",
        xds_port=18010,
        api_port=18081,
        tracer_port=19411,
        base_port=21000,
        sampling_percent=12.5,
        cert_lifetime_s=20.0,
        ca_dir=ca_dir,
    )
    assert parse_settings(settings.control_plane_args()) == settings


def test_bad_options_are_refused_with_the_option_named(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_settings(["--state-dir", "x", "--cert-lifetime", "-3"])
    assert exit_.value.code == 2
    assert "--cert-lifetime" in capsys.readouterr().err
