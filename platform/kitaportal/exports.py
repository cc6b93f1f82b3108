"""Table downloads (CSV for spreadsheets, XLSX) shared by the back offices."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.http import Http404, HttpResponse
from openpyxl import Workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_download(fmt: str, header, rows, filename: str, sheet_title: str = "") -> HttpResponse:
    """`fmt` "csv" (semicolons and a byte-order mark, as German Excel expects) or "xlsx"
    (numbers as numbers); any other format is a 404. `filename` has no extension."""
    rows = [list(row) for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        if header:
            writer.writerow(header)
        writer.writerows(rows)
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8"
        )
    elif fmt == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        if sheet_title:
            sheet.title = str(sheet_title)[:31]
        if header:
            sheet.append([str(cell) for cell in header])
        for row in rows:
            sheet.append([float(cell) if isinstance(cell, Decimal) else cell for cell in row])
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
