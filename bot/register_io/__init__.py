"""Export the register as CSV or JSON, and import one (how a spreadsheet register moves in)."""

from __future__ import annotations

from bot.register_io.columns import COLUMNS, EXPORT_FIELDS, columns_help
from bot.register_io.export import export_rows, export_text, write_export
from bot.register_io.importing import (
    ImportResult,
    Skipped,
    import_file,
    import_sheet,
    report,
)
from bot.register_io.reading import RegisterImportError, parse_sheet, read_sheet
from bot.register_io.rows import IMPORT_SUBMITTER

__all__ = [
    "COLUMNS",
    "EXPORT_FIELDS",
    "IMPORT_SUBMITTER",
    "ImportResult",
    "RegisterImportError",
    "Skipped",
    "columns_help",
    "export_rows",
    "export_text",
    "import_file",
    "import_sheet",
    "parse_sheet",
    "read_sheet",
    "report",
    "write_export",
]
