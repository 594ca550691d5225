"""Signed collector → sensor commands, numbered by a per-sensor counter.

The counter (Sensors."CommandCounter") strictly increases and is committed before the frame
is handed out, so a replayed or re-ordered command is refused by the sensor whatever its
clock says (uplink.batch.verify_command); nothing here depends on an expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.errors import RegistryError
from collector.store import Store
from uplink.batch import Command, CommandName, Signer, TopicKind, encode_command, topic


def issue_command(
    store: Store,
    sensor_id: str,
    name: CommandName,
    signer: Signer,
    *,
    now: float,
    args: Mapping[str, Any] | None = None,
) -> tuple[str, bytes, Command]:
    """Allocate the sensor's next counter and sign the command. Returns (topic, frame, command).

    Raises:
        RegistryError: unknown or revoked sensor.
    """
    with store.transaction() as tx:
        tx.lock_sensor(sensor_id)
        row = tx.fetchone(
            'SELECT "Site", "Status", "CommandCounter" FROM "Sensors" WHERE "SensorId" = ?',
            (sensor_id,),
        )
        if row is None or row[1] == "revoked":
            raise RegistryError(f"no active sensor {sensor_id!r}")
        counter = int(row[2]) + 1
        tx.execute(
            'UPDATE "Sensors" SET "CommandCounter" = ? WHERE "SensorId" = ?', (counter, sensor_id)
        )
    command = Command(sensor_id, counter, int(now * 1000), name, dict(args or {}))
    return topic(row[0], sensor_id, TopicKind.COMMANDS), encode_command(command, signer), command
