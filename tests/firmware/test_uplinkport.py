"""UplinkPort: collector commands verified (signature, sensor, counter) before the daemon acts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from firmware.config import Config, config_from_dict
from firmware.provision import provision
from firmware.uplinkport import UplinkPort, UplinkSetupError
from uplink.batch import Command, CommandName, Signer, encode_command


def setup(tmp_path: Path, collector: Signer) -> tuple[Config, object]:
    identity = provision(tmp_path, "branch-1", "bw-1")
    key_file = tmp_path / "collector.pub"
    key_file.write_bytes(
        collector.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = config_from_dict(
        {
            "sensor": {"site": "branch-1", "sensor_id": "bw-1", "state_dir": str(tmp_path)},
            "uplink": {
                "signing_key_file": str(tmp_path / "keys/signing.key"),
                "collector_key_file": str(key_file),
                "buffer_dir": str(tmp_path / "buffer"),
            },
        }
    )
    return config, identity


def frame(
    signer: Signer, counter: int, name: CommandName = CommandName.DISABLE, sensor: str = "bw-1"
) -> bytes:
    return encode_command(Command(sensor, counter, 1_700_000_000_000, name), signer)


def test_valid_commands_are_queued_and_replays_rejected_across_restarts(tmp_path: Path) -> None:
    collector = Signer.generate()
    config, identity = setup(tmp_path, collector)
    port = UplinkPort(config, identity)  # type: ignore[arg-type]
    port._on_command(frame(collector, 1))
    port._on_command(frame(collector, 2, CommandName.ENABLE))
    port._on_command(frame(collector, 2, CommandName.ENABLE))  # replay of the same counter
    assert [c.name for c in port.take_commands()] == [CommandName.DISABLE, CommandName.ENABLE]
    assert port.commands_rejected == 1
    port.stop(1.0)
    again = UplinkPort(config, identity)  # type: ignore[arg-type]
    again._on_command(frame(collector, 2))  # the counter survived the restart
    assert again.take_commands() == [] and again.commands_rejected == 1
    again._on_command(frame(collector, 3))
    assert len(again.take_commands()) == 1
    again.stop(1.0)


@pytest.mark.parametrize("case", ["forged", "other-sensor", "garbage"])
def test_bad_commands_are_rejected_and_counted(tmp_path: Path, case: str) -> None:
    collector = Signer.generate()
    config, identity = setup(tmp_path, collector)
    port = UplinkPort(config, identity)  # type: ignore[arg-type]
    raw = {
        "forged": frame(Signer.generate(), 5),
        "other-sensor": frame(collector, 5, sensor="bw-2"),
        "garbage": b"BC\x01\x01\x00\x05hello",
    }[case]
    port._on_command(raw)
    assert port.take_commands() == [] and port.commands_rejected == 1
    port.stop(1.0)


def test_unreadable_counter_fails_closed(tmp_path: Path) -> None:
    collector = Signer.generate()
    config, identity = setup(tmp_path, collector)
    (tmp_path / "command_counter.json").write_text("{not json")
    with pytest.raises(UplinkSetupError):
        UplinkPort(config, identity)  # type: ignore[arg-type]
