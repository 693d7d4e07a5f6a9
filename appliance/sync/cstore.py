"""DIMSE C-STORE (pynetdicom) of one exam's DICOM objects to the PACS, for archives without DICOMweb.

One association per exam, a presentation context per (SOP class, transfer syntax) the objects use.
An association the PACS rejects for good (unknown calling or called AE title) is parked; a PACS that
cannot be reached, aborts, or answers a failure status is tried again later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from appliance.sync.dimse import unreachable
from appliance.sync.transport import SendError

#: C-STORE statuses that mean stored (0x0000) or stored with a warning (0xB000, 0xB006, 0xB007).
STORED = frozenset({0x0000, 0xB000, 0xB006, 0xB007})


@dataclass(frozen=True)
class DimseTarget:
    host: str
    port: int
    called_ae: str
    calling_ae: str
    timeout_s: float = 30.0

    def store(self, datasets: Sequence[Dataset]) -> int:
        """C-STORE every dataset over one association; the number stored. Raises SendError."""
        why = unreachable(self.host, self.port, self.timeout_s)
        if why:
            raise SendError(f"The PACS (DIMSE {self.host}:{self.port}) could not be reached ({why}).", permanent=False)
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        ae.connection_timeout = self.timeout_s
        for sop_class, syntax in sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                                         for ds in datasets}):
            ae.add_requested_context(sop_class, syntax)
        assoc = ae.associate(self.host, self.port, ae_title=self.called_ae)
        if assoc.is_rejected:
            result = getattr(assoc.acceptor, "result", None) or 0
            permanent = result == 0x01  # rejected-permanent
            raise SendError(f"The PACS (DIMSE {self.called_ae}@{self.host}:{self.port}) refused the association"
                            f"{': check [sync] ae_title and dimse_ae_title' if permanent else ''}.",
                            permanent=permanent)
        if not assoc.is_established:
            raise SendError(f"The PACS (DIMSE {self.host}:{self.port}) could not be reached.", permanent=False)
        try:
            for ds in datasets:
                try:
                    status = assoc.send_c_store(ds)
                except ValueError as err:  # no accepted presentation context for this object
                    raise SendError(f"The PACS (DIMSE) does not accept {ds.SOPClassUID.name} in "
                                    f"{ds.file_meta.TransferSyntaxUID.name}.", permanent=True) from err
                code = int(getattr(status, "Status", -1)) if status else -1
                if code not in STORED:
                    what = "no answer" if code == -1 else f"status 0x{code:04X}"
                    raise SendError(f"The PACS (DIMSE) did not store an object ({what}).", permanent=False)
        finally:
            if assoc.is_established:
                assoc.release()
        return len(datasets)
