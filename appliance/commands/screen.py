"""`appliance screen`: screen one exam from image files and print the result."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from appliance.config import Config, QualityConfig
from appliance.domain import NOT_VALIDATED_NOTICE, Capture, Exam, Eye
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
    screen.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    captures = [_read_capture(Eye.RIGHT, p) for p in args.right] + [_read_capture(Eye.LEFT, p) for p in args.left]
    with open_appliance(config, actor=args.operator) as box:
        exam = box.pipeline.screen(args.patient_id, captures, operator=args.operator)
        if args.json:
            print(json.dumps(exam_summary(exam, config.quality), indent=2))
        else:
            print(format_exam(exam, config.quality))
        box.store.record_audit("result_shown", actor=args.operator, exam_id=exam.exam_id,
                               detail={"outcome": exam.result.outcome.value, "via": "cli"})
    return 0


def _read_capture(eye: Eye, path: Path) -> Capture:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExamInputError(f"Cannot read the {eye.value}-eye image {path}: {exc.strerror}.",
                             reason_code="image_file_unreadable") from exc
    return Capture(eye=eye, image=data, source=f"file:{path}")


def format_exam(exam: Exam, quality_thresholds: QualityConfig) -> str:
    """The exam as an operator reads it on a terminal."""
    result = exam.result
    lines = [
        f"Exam {exam.exam_id}  patient {exam.patient_id}",
        f"Outcome: {result.outcome.value} — {result.message}",
    ]
    for eye, score in result.eye_scores.items():
        shown = "no gradable image" if score is None else f"score {score:.3f}"
        lines.append(f"  {eye.value} eye: {shown}")
    lines.append("Images:")
    for image in exam.images:
        verdict = "quality passed" if image.quality.passed else (
            f"quality FAILED [{', '.join(image.quality.reason_codes)}] {image.quality.operator_message}")
        shown_score = "" if image.prediction is None else f", score {image.prediction.score:.3f}"
        lines.append(f"  {image.capture.eye.value}: {image.capture.source}: {verdict}{shown_score}")
    model = exam.model
    lines.append(f"Model: {model.name} {model.version} ({model.runner}) sha256 {model.sha256}")
    lines.append(f"Thresholds: referable if score >= {result.threshold:.3f}")
    gate = ", ".join(f"{key}={value}" for key, value in asdict(quality_thresholds).items())
    lines.append(f"Quality gate: {gate}")
    lines.append(NOT_VALIDATED_NOTICE)
    return "\n".join(lines)
