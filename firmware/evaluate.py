"""`branchwatch eval LABELS.json`: score the classifier against labelled captures.

LABELS is a JSON list (or {"labels": [...]}) of
    {"file": capture path relative to the labels file, "mac" or "ip",
     "type", "vendor", "model", "firmware"}        (null = unknown, not scored)
Each capture runs through the same path as `branchwatch inspect` (firmware.inspect); the
labelled device is found by MAC, else by IP. One JSON object is printed: per field (type,
vendor, model, firmware) labelled, answered, correct, precision = correct / answered,
coverage = answered / labelled, recall (accuracy) = correct / labelled, F1 (macro over the
labelled classes for type), wrong-answer rate = wrong / labelled; and the type confusion
matrix {label: {answer or "unclassified": count}}.

Comparison: vendors through the normalisation table (capture/vendors.py); models without the
maker's name, case and punctuation; a firmware label matches the firmware or the OS field (an
OS answer without any version number, "Windows", is not a firmware answer).
Where the shorter of two model/firmware strings is a whole-word part of the longer one
("12.2(25)SEB4" in "IOS 12.2(25)SEB4 (C3560-ADVIPSERVICESK9-M)") it counts as the same
version, provided it has a digit and is not a single bare number.

"Where the traffic states them" (the issue's wording for the model and firmware targets):
each of those two fields is also scored as `stated`, whose denominator leaves out a label that
was not answered and whose value the capture's packets do not contain: the value has at least
one token of three or more letters/digits and none of its such tokens occurs,
case-insensitively, in the bytes of any packet (capture-file metadata such as a pcapng
section header is not a packet). The test is mechanical and conservative: a label keeps its
place when any token is found anywhere, and answered labels (right or wrong) are never left
out. The left-out labels are listed in the report.

Exit codes: 0 scored; 65 the labels file is unreadable or malformed; 78 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capture.device import DeviceRecord
from capture.errors import CaptureError
from capture.vendors import same_vendor, strip_vendor_prefix
from firmware.cli import EX_CONFIG, EX_DATAERR, EX_OK, EX_UNAVAILABLE
from firmware.config import Config, load_config
from firmware.errors import ConfigError

SCORED = ("type", "vendor", "model", "firmware")
STATED = ("model", "firmware")  # scored also where the traffic states them
UNCLASSIFIED = "unclassified"
_TOKEN = re.compile(r"[0-9a-z]+")
_STATED_TOKEN = 3  # shortest token searched for in the packets


class LabelsError(ValueError):
    """The labels file is unreadable or not in the eval format."""


@dataclass(frozen=True, slots=True)
class Label:
    file: Path
    mac: str | None
    ip: str | None
    fields: Mapping[str, str | None]


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "eval",
        help="score device classification against labelled captures",
        description="Run each labelled capture through the pipeline and print one JSON object "
        "with precision, coverage, F1 and wrong-answer rate per field and the type confusion "
        "matrix. Exit codes: 0 ok, 65 bad labels file, 69 live filter unavailable, 78 bad "
        "configuration.",
    )
    parser.add_argument("labels", metavar="LABELS.json", help="labels file (eval format)")
    parser.add_argument("--config", metavar="FILE", help="configuration file over the defaults")
    parser.add_argument("--details", action="store_true", help="add every label's outcome")
    parser.add_argument(
        "--live-filter",
        action="store_true",
        help="score what a live sensor sees: frames go through the kernel capture filter first",
    )
    return ["eval"]


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"branchwatch eval: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        labels = load_labels(Path(args.labels))
    except LabelsError as exc:
        print(f"branchwatch eval: {exc}", file=sys.stderr)
        return EX_DATAERR
    try:
        report = evaluate(labels, config, details=args.details, live_filter=args.live_filter)
    except CaptureError as exc:  # the live filter could not be compiled
        print(f"branchwatch eval: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    print(json.dumps(report, indent=1, sort_keys=True))
    return EX_OK


def load_labels(path: Path) -> list[Label]:
    """Read a labels file; paths are resolved against its directory."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelsError(f"{path}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("labels")
    if not isinstance(data, list):
        raise LabelsError(f"{path}: expected a JSON list of labels or {{'labels': [...]}}")
    out: list[Label] = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise LabelsError(f"{path}: label {n} needs a 'file'")
        mac, ip = item.get("mac"), item.get("ip")
        if not mac and not ip:
            raise LabelsError(f"{path}: label {n} needs a 'mac' or an 'ip'")
        fields = {f: _text(item.get(f)) for f in SCORED}
        out.append(Label(path.parent / item["file"], _text(mac), _text(ip), fields))
    return out


def evaluate(
    labels: Iterable[Label], config: Config, *, details: bool = False, live_filter: bool = False
) -> dict[str, Any]:
    """Score every label; each capture is run once (through the live filter if asked)."""
    from firmware.inspect import LiveFilterCount, inspect_file  # as `branchwatch inspect`

    live = LiveFilterCount() if live_filter else None
    runs: dict[Path, tuple[list[DeviceRecord], str | None]] = {}
    outcomes: list[dict[str, Any]] = []
    for label in labels:
        if label.file not in runs:
            if not label.file.exists():
                runs[label.file] = ([], "missing")
            else:
                pipeline, failure = inspect_file(str(label.file), config, live_filter=live)
                runs[label.file] = (pipeline.devices(), str(failure) if failure else None)
        devices, _ = runs[label.file]
        found = find_device(devices, label.mac, label.ip)
        outcome = _outcome(label, found)
        for name in STATED:
            field = outcome[name]
            if field["label"] is not None and field["answer"] is None:
                field["stated"] = label.file.exists() and in_packets(label.file, field["label"])
        outcomes.append(outcome)
    report = score(outcomes)
    report["captures"] = len(runs)
    report["capture_errors"] = {str(p): e for p, (_, e) in sorted(runs.items()) if e}
    if live is not None:
        report["live_filter"] = live.to_json()
    if details:
        report["details"] = outcomes
    return report


def in_packets(path: Path, value: str) -> bool:
    """Whether any packet of the capture contains a token (>= 3 letters/digits) of `value`,
    case-insensitively; True when `value` has no such token (nothing to decide on)."""
    tokens = {t.encode() for t in _TOKEN.findall(value.lower()) if len(t) >= _STATED_TOKEN}
    if not tokens:
        return True
    from capture.errors import CaptureFileError
    from capture.sniffer import open_capture

    try:
        for packet in open_capture(path):
            data = packet.data.lower()
            if any(t in data for t in tokens):
                return True
    except CaptureFileError:
        return True  # an unreadable tail could hold it: keep the label
    return False


def find_device(
    devices: Iterable[DeviceRecord], mac: str | None, ip: str | None
) -> DeviceRecord | None:
    """The labelled device: by MAC when the label has one, else by IP."""
    devices = list(devices)
    if mac:
        want = mac.lower()
        for device in devices:
            if device.mac == want:
                return device
        return None
    for device in devices:
        if ip in device.ips:
            return device
    return None


def _outcome(label: Label, device: DeviceRecord | None) -> dict[str, Any]:
    answers = {f: device.value(f) if device else None for f in (*SCORED, "os")}
    out: dict[str, Any] = {
        "file": label.file.name,
        "mac": label.mac,
        "ip": label.ip,
        "found": device is not None,
    }
    for name in SCORED:
        want = label.fields[name]
        got = answers[name]
        if name == "firmware":  # a firmware label may match the firmware or the OS field
            os_answer = answers["os"]
            if os_answer and not (_has_digit(os_answer) or is_same(name, want, os_answer, None)):
                os_answer = None  # "OpenBSD" names no version: not a firmware answer
            given = [a for a in (answers["firmware"], os_answer) if a]
            matching = [a for a in given if is_same(name, want, a, None)]
            chosen = matching or given
            got = chosen[0] if chosen else None
        vendor = label.fields["vendor"] or answers["vendor"]
        out[name] = {
            "label": want,
            "answer": got,
            "correct": None if want is None or got is None else is_same(name, want, got, vendor),
        }
    return out


def is_same(name: str, label: str | None, answer: str | None, vendor: str | None) -> bool:
    """Whether an answer matches a label under the eval's comparison rules."""
    if label is None or answer is None:
        return False
    if name == "type":
        return label == answer
    if name == "vendor":
        return same_vendor(label, answer)
    if name == "model":
        label, answer = strip_vendor_prefix(label, vendor), strip_vendor_prefix(answer, vendor)
    a, b = _TOKEN.findall(label.lower()), _TOKEN.findall(answer.lower())
    if not a or not b:
        return False
    if a == b or "".join(a) == "".join(b):
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if not any(c.isdigit() for c in "".join(short)) or (len(short) == 1 and short[0].isdigit()):
        return False
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def score(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-field scores and the type confusion matrix from per-label outcomes."""
    report: dict[str, Any] = {"labels": len(outcomes), "found": sum(o["found"] for o in outcomes)}
    for name in SCORED:
        rows = [o[name] for o in outcomes if o[name]["label"] is not None]
        labelled = len(rows)
        answered = sum(r["answer"] is not None for r in rows)
        correct = sum(bool(r["correct"]) for r in rows)
        precision = _ratio(correct, answered)
        recall = _ratio(correct, labelled)
        f1 = _macro_f1(rows) if name == "type" else _f1(precision, recall)
        report[name] = {
            "labelled": labelled,
            "answered": answered,
            "correct": correct,
            "precision": precision,
            "coverage": _ratio(answered, labelled),
            "recall": recall,
            "f1": f1,
            "wrong_rate": _ratio(answered - correct, labelled),
        }
    for name in STATED:
        rows = [o for o in outcomes if o[name]["label"] is not None]
        kept = [o for o in rows if o[name].get("stated", True)]
        correct = sum(bool(o[name]["correct"]) for o in kept)
        report[name]["stated"] = {
            "labelled": len(kept),
            "correct": correct,
            "recall": _ratio(correct, len(kept)),
            "not_in_packets": [
                {"file": o["file"], "mac": o["mac"], "ip": o["ip"], "label": o[name]["label"]}
                for o in rows
                if not o[name].get("stated", True)
            ],
        }
    matrix: dict[str, dict[str, int]] = {}
    for o in outcomes:
        if o["type"]["label"] is not None:
            row = matrix.setdefault(o["type"]["label"], {})
            answer = o["type"]["answer"] or UNCLASSIFIED
            row[answer] = row.get(answer, 0) + 1
    report["type_confusion"] = {k: dict(sorted(v.items())) for k, v in sorted(matrix.items())}
    return report


def _macro_f1(rows: list[dict[str, Any]]) -> float | None:
    classes = sorted({r["label"] for r in rows})
    if not classes:
        return None
    total = 0.0
    for c in classes:
        tp = sum(r["label"] == c and r["answer"] == c for r in rows)
        predicted = sum(r["answer"] == c for r in rows)
        actual = sum(r["label"] == c for r in rows)
        total += _f1(_ratio(tp, predicted), _ratio(tp, actual)) or 0.0
    return round(total / len(classes), 4)


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    if precision + recall == 0:
        return 0.0
    return round(2 * precision * recall / (precision + recall), 4)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
