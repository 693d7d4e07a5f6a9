"""`appliance screen`: screen one exam from image files and print the result."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.domain import Capture, Eye
from appliance.errors import ExamInputError
from appliance.runtime import open_appliance
from appliance.summary import exam_summary


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    screen = commands.add_parser("screen", parents=[common], help="screen one exam from image files")
    screen.add_argument("--patient-id", default="anonymous", help="patient identifier (default: anonymous)")
    screen.add_argument("--right", action="append", type=Path, default=[], metavar="IMAGE",
                        help="right-eye photo (give once or twice)")
    screen.add_argument("--left", action="append", type=Path, default=[], metavar="IMAGE",
                        help="left-eye photo (give once or twice)")
    screen.add_argument("--operator", default=os.environ.get("USER", "cli"), help="who runs the exam")
    screen.add_argument("--json", action="store_true", help="print machine-readable JSON")
    screen.add_argument("--confirm-eyes", action="store_true",
                        help="screen even when a photo looks like the other eye (audited); without it such an "
                             "exam is cancelled and nothing is screened")
    screen.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    captures = [_read_capture(Eye.RIGHT, p) for p in args.right] + [_read_capture(Eye.LEFT, p) for p in args.left]
    with open_appliance(config, actor=args.operator) as box:
        exam = box.pipeline.screen(args.patient_id, captures, operator=args.operator, confirm_eyes=args.confirm_eyes)
        summary = exam_summary(exam)
        print(json.dumps(summary, indent=2) if args.json else format_exam(summary))
        box.exams.result_shown(exam, reader=args.operator, via="cli")
    return 0


def _read_capture(eye: Eye, path: Path) -> Capture:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExamInputError(f"Cannot read the {eye.value}-eye image {path}: {exc.strerror}.",
                             reason_code="image_file_unreadable") from exc
    return Capture(eye=eye, image=data, source=f"file:{path}")


def format_exam(summary: dict[str, Any]) -> str:
    """The exam summary (appliance.summary.exam_summary) as an operator reads it on a terminal."""
    lines = [
        f"Exam {summary['exam_id']}  patient {summary['patient_id']}",
        f"Outcome: {summary['outcome']} — {summary['message']}",
    ]
    for eye, score in summary["eye_scores"].items():
        shown = "no gradable image" if score is None else f"score {score:.3f}"
        lines.append(f"  {eye} eye: {shown}")
    for eye, advice in summary["retake"].items():
        lines.append(f"  {eye} eye, next step: {advice['message']}")
    lines.append("Images:")
    for image in summary["images"]:
        quality = image["quality"]
        verdict = "quality passed" if quality["passed"] else (
            f"quality FAILED [{', '.join(quality['reason_codes'])}] {quality['message']}")
        shown_score = "" if image["score"] is None else f", score {image['score']:.3f}"
        lines.append(f"  {image['eye']}: {image['source']}: {verdict}{shown_score}; "
                     f"field {image['detected_field']}")
    model = summary["model"]
    lines.append(f"Model: {model['name']} {model['version']} ({model['runner']}) sha256 {model['sha256']}")
    thresholds = summary["thresholds"]
    lines.append(f"Thresholds: referable if score >= {thresholds['referable']:.3f}")
    lines.append(f"Operating point: {summary['operating_point']['description']}")
    gate = ", ".join(f"{key}={value}" for key, value in thresholds["quality"].items()
                     if isinstance(value, (int, float, str)))
    lines.append(f"Quality gate: {gate}")
    lines.append(summary["notice"])
    return "\n".join(lines)
