"""Reading an import file into rows: encodings, CSV dialects, JSON with line numbers."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import CsiError
from bot.register_io.columns import KNOWN, column_name

DELIMITERS = {",": "a comma", ";": "a semicolon", "\t": "a tab"}
_SPACE = re.compile(r"[ \t\n\r]*")


class RegisterImportError(CsiError):
    """The file has problems; nothing was imported. `problems` lists every one by line."""

    def __init__(self, problems: list[str], *, skipped: int = 0) -> None:
        self.problems = problems
        self.skipped = skipped
        count = len(problems)
        lines = [f"Nothing was imported: the file has {count} problem{'' if count == 1 else 's'}."]
        lines.extend(problems)
        if skipped:
            rows = "1 row is" if skipped == 1 else f"{skipped} rows are"
            lines.append(f"({rows} already in the register and would be skipped.)")
        super().__init__("\n".join(lines))


@dataclass
class Row:
    """One proposal of the file: where it starts, its values by column, what is wrong with it.

    `number` counts the proposals of the file from 1; `where` is how messages name the row
    ("line 12", or "line 1, proposal 3" when several objects of a JSON file share a line).
    `problems` are messages about the row as a whole, without that prefix.
    """

    line: int
    values: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    number: int = 0
    where: str = ""

    def __post_init__(self) -> None:
        self.where = self.where or f"line {self.line}"


@dataclass
class Sheet:
    """The rows of a file; `from_csv` says cells may carry the export's formula neutralisation."""

    rows: list[Row]
    from_csv: bool
    ignored_columns: list[str] = field(default_factory=list)


def read_sheet(path: Path) -> Sheet:
    """The rows of a CSV or JSON file; a file that cannot be read at all raises with the reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsiError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return parse_sheet(data)


def parse_sheet(data: bytes) -> Sheet:
    """The rows of a CSV (comma, semicolon or tab) or JSON document given as bytes."""
    text = _decode(data)
    if not text.strip():
        raise RegisterImportError(["line 1: the file is empty."])
    if text.lstrip().startswith(("[", "{")):
        return _json_sheet(text)
    return _csv_sheet(text)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" is UTF-16 with a byte order mark.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RegisterImportError(["line 1: the file is not valid UTF-16 text."]) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RegisterImportError(
            [
                f"line {line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02X}); it looks "
                "like another encoding, such as Windows-1252. In your spreadsheet, save it as "
                "“CSV UTF-8” and import that file."
            ]
        ) from exc


def _delimiter(header_line: str) -> str:
    """The delimiter that makes the most known column names out of the header row."""

    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(column_name(c) in KNOWN for c in cells), len(cells)

    return max(DELIMITERS, key=score)


def _csv_sheet(text: str) -> Sheet:
    lines = text.split("\n", 2)
    # Excel writes and reads a first line "sep=;" that names the delimiter.
    hint = lines[0].rstrip("\r")
    named = hint[4:] if len(hint) == 5 and hint.lower().startswith("sep=") else None
    delimiter = named or _delimiter(lines[0])
    limit = csv.field_size_limit()
    # Over-long cells are reported by validation, with their line and column, not by the reader.
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        if named:
            next(reader)
        header = next(reader, [])
        names = _header_names(header)
        sheet = Sheet(
            rows=[],
            from_csv=True,
            ignored_columns=[h.strip() for h, n in zip(header, names, strict=True) if n is None],
        )
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                sheet.rows.append(Row(start, {}, [f"cannot read this row ({exc})."]))
                break
            if "".join(record).strip():
                sheet.rows.append(_csv_row(start, record, names, delimiter))
                sheet.rows[-1].number = len(sheet.rows)
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)
    return sheet


def _header_names(header: list[str]) -> list[str | None]:
    """The register column of each header cell (None: not a register column)."""
    names = [column_name(h) for h in header]
    problems = []
    if "title" not in names:
        shown = ", ".join(f"“{h.strip()}”" for h in header[:12])
        problems.append(f"line 1: the header row must name a “title” column (it names {shown}).")
    for name in sorted({n for n in names if n in KNOWN and names.count(n) > 1}):
        problems.append(f"line 1: the column “{name}” appears more than once.")
    if problems:
        raise RegisterImportError(problems)
    return [n if n in KNOWN else None for n in names]


def _csv_row(line: int, record: list[str], names: list[str | None], delimiter: str) -> Row:
    values: dict[str, Any]
    if len(record) == len(names) and None not in names:
        values = dict(zip(names, record, strict=True))  # type: ignore[arg-type]
    else:
        values = {n: cell for n, cell in zip(names, record, strict=False) if n is not None}
    row = Row(line, values)
    if len(record) > len(names) and "".join(record[len(names) :]).strip():
        row.problems.append(
            f"this row has {len(record)} fields but the header has {len(names)}; "
            f"a value containing {DELIMITERS.get(delimiter, repr(delimiter))} must be in double "
            "quotes."
        )
    return row


def _json_sheet(text: str) -> Sheet:
    """The objects of a JSON array, each with the line it starts on (counted once, linearly)."""
    # Numbers stay text so that validation judges them (4.6, 1e309, Infinity) like CSV cells.
    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)
    position = _SPACE.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", position):
        raise RegisterImportError(
            ["line 1: the JSON must be an array of proposals, shaped like the export."]
        )
    line, counted = 1, 0
    sheet = Sheet(rows=[], from_csv=False)
    ignored: dict[str, None] = {}

    def skip(at: int) -> int:
        return _SPACE.match(text, at).end()  # type: ignore[union-attr]

    def line_at(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    position = skip(position + 1)
    while not text.startswith("]", position):
        if position >= len(text):
            raise RegisterImportError([f"line {line_at(position)}: the JSON array has no end ']'."])
        start = line_at(position)
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise RegisterImportError([f"line {exc.lineno}: not valid JSON ({exc.msg})."]) from exc
        except (ValueError, RecursionError) as exc:
            raise RegisterImportError([f"line {start}: not valid JSON ({exc}).".strip()]) from exc
        if isinstance(item, dict):
            values = {}
            for key, value in item.items():
                name = column_name(key)
                if name in KNOWN:
                    values[name] = value
                else:
                    ignored[key.strip()] = None
            sheet.rows.append(Row(start, values, number=len(sheet.rows) + 1))
        else:
            problem = "each proposal must be an object."
            sheet.rows.append(Row(start, {}, [problem], number=len(sheet.rows) + 1))
        position = skip(position)
        if text.startswith(",", position):
            position = skip(position + 1)
        elif not text.startswith("]", position):
            raise RegisterImportError(
                [f"line {line_at(position)}: expected ',' or ']' in the JSON array."]
            )
    if text[position + 1 :].strip():
        raise RegisterImportError(
            [f"line {line_at(skip(position + 1))}: unexpected text after the JSON array."]
        )
    sheet.ignored_columns = list(ignored)
    starting = Counter(row.line for row in sheet.rows)
    for row in sheet.rows:
        if starting[row.line] > 1:
            row.where = f"line {row.line}, proposal {row.number}"
    return sheet
