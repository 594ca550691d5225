"""Uplink options of the typed config: defaults match the wire contract, bad values refused."""

from __future__ import annotations

import pytest

from firmware.config import config_from_dict, load_config
from firmware.errors import ConfigError
from uplink.batch import SEAL_BATCH_BYTES


def test_default_seal_bytes_is_the_wire_contracts_seal_limit() -> None:
    assert load_config().uplink.batch_seal_bytes == SEAL_BATCH_BYTES == 192 * 1024


@pytest.mark.parametrize(
    ("key", "value"),
    [("keepalive_s", 4), ("keepalive_s", 65_536), ("batch_seal_bytes", 192 * 1024 + 1),
     ("inflight_max", 0), ("buffer_max_bytes", 999_999)],
)  # fmt: skip
def test_out_of_range_uplink_option_is_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"uplink": {key: value}})
    assert f"uplink.{key}" in str(exc.value)
