"""One module per finding family, each exporting RULES.

The contract the pipeline relies on (capture/rules/engine.py implements it):

    class RuleEngine:
        def __init__(self, config: DetectConfig, now: Callable[[], float] | None = None) -> None
        def on_frame(self, frame: Frame) -> None          # count-only path, no scapy
        def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None
        def on_device_new(self, device: DeviceRecord) -> None
        def tick(self, now: float) -> None                # staleness, window expiry
        def drain(self) -> list[Finding]                  # new or updated findings since last drain
        def findings(self) -> list[Finding]               # current state of every finding
        counters: dict[str, int]                          # dropped[...] etc.

Each rule module exports RULES: a tuple of rule classes/instances with a stable rule_id.
"""
