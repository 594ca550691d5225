"""`branchwatch explain CAPTURE MAC`: why a device was classified as it was.

Runs the capture through the same path as `branchwatch inspect`, then prints, for every
classification field of the device (category, type, subtype, vendor, model, firmware, os),
its value ("unclassified" when the classifier abstained), its confidence against the
threshold, and every piece of evidence (fact -> rule (weight)), including the evidence for
rival values ("against: ..."). With --json the same as one JSON object.

Exit codes: 0 ok; 1 no such device in the capture; 65 unreadable capture; 78 bad config.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from capture.classify import Classifier
from capture.device import CLASS_FIELDS, DeviceRecord, FieldValue
from firmware.cli import EX_CONFIG, EX_DATAERR, EX_OK
from firmware.config import load_config
from firmware.errors import ConfigError

EX_NOT_FOUND = 1


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "explain",
        help="show every classification field of a device with its evidence",
        description="Run a capture through the pipeline and explain the classification of "
        "one device (by MAC, or by IP address): every field with its confidence and evidence. "
        "Exit codes: 0 ok, 1 device not found, 65 unreadable capture, 78 bad configuration.",
    )
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("mac", metavar="MAC", help="the device's MAC (or IP) address")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--config", metavar="FILE", help="configuration file over the defaults")
    return ["explain"]


def run(args: argparse.Namespace) -> int:
    from firmware.evaluate import find_device
    from firmware.inspect import inspect_file

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"branchwatch explain: {exc}", file=sys.stderr)
        return EX_CONFIG
    pipeline, failure = inspect_file(args.capture, config)
    if failure is not None and pipeline.stats.packets == 0:
        print(f"branchwatch explain: {args.capture}: {failure}", file=sys.stderr)
        return EX_DATAERR
    target = args.mac.strip().lower().replace("-", ":")
    is_mac = target.count(":") == 5 and "." not in target
    device = find_device(pipeline.devices(), target if is_mac else None, None if is_mac else target)
    if device is None:
        print(f"branchwatch explain: no device {args.mac} in {args.capture}", file=sys.stderr)
        return EX_NOT_FOUND
    # The pipeline's record holds the sticky values; decide() re-derives the evidence and
    # the rivals from the same facts so that nothing is hidden.
    fresh = Classifier(config.classify).decide(device)
    report = explanation(device, fresh, config.classify.min_confidence)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        write_text(sys.stdout, report)
    return EX_OK


def explanation(
    device: DeviceRecord, fresh: dict[str, FieldValue], threshold: float
) -> dict[str, Any]:
    """Every field of `device` with value, confidence and evidence."""
    fields: dict[str, Any] = {}
    for name in CLASS_FIELDS:
        kept = device.classification.get(name)
        now = fresh.get(name)
        value = kept.value if kept is not None else None
        fields[name] = {
            "value": value,
            "confidence": kept.confidence if kept is not None else 0.0,
            "evidence": list(
                kept.evidence if kept and kept.value else (now.evidence if now else [])
            ),
        }
    facts = {f"{p}.{k}": [_plain(v) for v in vals] for (p, k), vals in sorted(device.facts.items())}
    return {
        "mac": device.mac,
        "ips": sorted(device.ips),
        "names": sorted(device.names),
        "threshold": threshold,
        "fields": fields,
        "changes": [dict(c) for c in device.changes],
        "facts": facts,
    }


def write_text(out: TextIO, report: dict[str, Any]) -> None:
    out.write(f"device {report['mac']}  ips {', '.join(report['ips']) or '-'}")
    out.write(f"  names {', '.join(report['names']) or '-'}\n")
    out.write(f"threshold {report['threshold']:g} (below it a field stays unclassified)\n\n")
    for name, field in report["fields"].items():
        value = field["value"] if field["value"] is not None else "unclassified"
        out.write(f"{name:<9} {value}  (confidence {field['confidence']:.3f})\n")
        for line in field["evidence"]:
            out.write(f"          - {line}\n")
    if report["changes"]:
        out.write("\nchanges (capture time, field: before -> after):\n")
        for change in report["changes"]:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(change["at"]))
            before = change["before"] if change["before"] is not None else "unclassified"
            after = change["after"] if change["after"] is not None else "withdrawn"
            out.write(f"  {at}  {change['field']}: {before} -> {after}")
            out.write(f"  (confidence {change['confidence']:.3f})\n")
    out.write("\nfacts:\n")
    for key, values in report["facts"].items():
        out.write(f"  {key}: {', '.join(json.dumps(v) for v in values)}\n")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
