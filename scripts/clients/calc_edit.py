"""Drives LibreOffice Calc through UNO on a running soffice: opens a CSV
file, reports the sheet's size and one cell, optionally sets that cell and
saves the document in place with store(). Prints one JSON object:

  {"rows": N, "cols": N, "before": "...", "stored": bool, "error": "..."}

rows and cols count the used area, header included. The first column
(timestamps) is loaded as text so that Calc writes it back unchanged.

Usage: /usr/bin/python3 calc_edit.py PIPE FILE ROW COL [VALUE]
  PIPE   the name of soffice's --accept=pipe,name=PIPE;urp; connection
  ROW    0-based row of the cell (0 is the header), COL 0-based column
  VALUE  the new content: a number if it parses as one, else text
"""
import json
import sys
import time

import uno
from com.sun.star.beans import PropertyValue

CSV_FILTER = "Text - txt - csv (StarCalc)"
# separator ',', quote '"', UTF-8, from line 1, column 1 as text, language
# default, quoted fields not as text, no special-number detection.
CSV_OPTIONS = "44,34,76,1,1/2,0,false,false"


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def connect(pipe, timeout=90.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.time() + timeout
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def main():
    pipe, path, row, col = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    value = sys.argv[5] if len(sys.argv) > 5 else None
    desktop = connect(pipe)
    url = uno.systemPathToFileUrl(path)
    doc = desktop.loadComponentFromURL(url, "_blank", 0, (
        prop("Hidden", True), prop("FilterName", CSV_FILTER), prop("FilterOptions", CSV_OPTIONS)))
    out = {"rows": 0, "cols": 0, "before": None, "stored": False, "error": ""}
    try:
        sheet = doc.Sheets.getByIndex(0)
        cur = sheet.createCursor()
        cur.gotoEndOfUsedArea(False)
        out["rows"] = cur.RangeAddress.EndRow + 1
        out["cols"] = cur.RangeAddress.EndColumn + 1
        cell = sheet.getCellByPosition(col, row)
        out["before"] = cell.getString()
        if value is not None:
            try:
                cell.setValue(float(value))
            except ValueError:
                cell.setString(value)
            try:
                doc.store()
                out["stored"] = True
            except Exception as e:  # com.sun.star.task.ErrorCodeIOException
                out["error"] = f"{type(e).__name__}: {getattr(e, 'Message', e)}"
    finally:
        doc.close(True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
