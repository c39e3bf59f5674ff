"""The yearly report as a PDF, made once at publication and stored beside the snapshot.

Waits for the shared PDF builder (``oversight/pdf.py``, owned by the purchase review): until it
is there no PDF is made and the PDF address answers that there is none.
"""

from __future__ import annotations

from oversight.report_schema import YearlyReport

PDF_MADE = False  # whether published reports carry a PDF


def report_pdf(report: YearlyReport, bureau_name: str) -> bytes | None:
    return None
