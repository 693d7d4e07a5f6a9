"""DICOMweb STOW-RS (PS3.18 10.5): one exam's DICOM objects in one `POST {base}/studies`, as
multipart/related; type="application/dicom".

The PACS keeps one copy per SOP Instance UID, so a resend after a crash stores nothing twice. A response
that lists failed instances (FailedSOPSequence) is tried again later; a 409 (every instance refused) is
parked with the server's reasons.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from appliance.sync.transport import HttpTarget, SendError

FAILED_SOP_SEQUENCE = "00081198"
FAILURE_REASON = "00081197"
REFERENCED_SOP_INSTANCE = "00081155"


def multipart_related(parts: Sequence[bytes], boundary: str) -> bytes:
    """The request body: each Part 10 file as one application/dicom part."""
    chunks = []
    for part in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii"))
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)


def store_instances(target: HttpTarget, instances: Sequence[bytes]) -> int:
    """STOW-RS the Part 10 files of one study; the number stored. Raises SendError."""
    if not instances:
        return 0
    boundary = f"dr-appliance-{uuid.uuid4().hex}"
    body = multipart_related(instances, boundary)
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    try:
        answer = target.post("/studies", body, content_type=content_type, accept="application/dicom+json")
    except SendError as err:
        if "HTTP 409" in err.message:
            raise SendError(f"{err.message} (the PACS refused every object of the exam)", permanent=True) from err
        raise
    failed = _failed_instances(answer.content)
    if failed:
        reasons = ", ".join(sorted({f"0x{reason:04X}" for reason in failed.values()}))
        raise SendError(f"The PACS did not store {len(failed)} of {len(instances)} objects (failure reasons "
                        f"{reasons}); they are sent again later.", permanent=False)
    return len(instances)


def _failed_instances(content: bytes) -> dict[str, int]:
    """SOP Instance UID -> failure reason of the response's FailedSOPSequence (empty when none)."""
    try:
        body: Any = json.loads(content) if content.strip() else {}
    except ValueError:
        return {}
    items = body[0] if isinstance(body, list) and body else body
    if not isinstance(items, dict):
        return {}
    failed: dict[str, int] = {}
    for item in (items.get(FAILED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = ((item.get(REFERENCED_SOP_INSTANCE) or {}).get("Value") or ["?"])[0]
        reason = ((item.get(FAILURE_REASON) or {}).get("Value") or [0x0110])[0]
        failed[str(uid)] = int(reason)
    return failed
