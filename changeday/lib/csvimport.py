"""Reading a CSV file people made in a spreadsheet, for an all-or-nothing import: the text
decoded, the header checked against the columns an import knows, and each row's cells by
column name with the line it starts on, so every bad row can be reported as "Line N: ...".

What the cells mean is the importer's business (the organisation directory, paper pledges);
this module knows no models."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from changeday.lib.csvcells import FORMULA_START


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a file: on a line (1 is the header), or, with line 0, the file
    as a whole (too many rows for what is allowed)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class CsvRow:
    # The line the row starts on (a quoted cell may span several).
    line: int
    # Only the columns the header named, by their lower-cased names.
    cells: dict[str, str]


class CsvNotText(ValueError):
    """The upload is not UTF-8 text."""


def csv_text(csv_file: str | bytes | IO[str] | IO[bytes]) -> str:
    """The file's text; CsvNotText when it is not UTF-8."""
    data = csv_file if isinstance(csv_file, str | bytes) else csv_file.read()
    if isinstance(data, bytes):
        try:
            # utf-8-sig: spreadsheets often start their CSV with a byte-order mark.
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise CsvNotText("The file is not UTF-8 text; save it as 'CSV UTF-8'.") from error
    return data.removeprefix("\ufeff")


def csv_rows(
    text: str,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    max_rows: int,
    problems: list[ImportProblem],
) -> list[CsvRow]:
    """The non-blank rows after the header, each with as many cells as the header names.

    The header names columns in any order and case; one we do not know, one missing from
    `required` or one named twice makes the whole file a problem (line 1) and no row is
    read. A row with the wrong number of cells is a problem on its line. Reading stops at a
    line that is not CSV, and after `max_rows` rows (a problem on the first line left out).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.append(ImportProblem(1, "The file is empty; the first line names the columns."))
        return []
    except csv.Error as error:
        problems.append(ImportProblem(1, f"The header line is not CSV ({error})."))
        return []
    named = [cell.strip().casefold() for cell in header]
    unknown = [column for column in named if column not in columns]
    missing = [column for column in required if column not in named]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if unknown or missing or repeated:
        parts = []
        if missing:
            parts.append(f"it lacks the column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"it has column(s) we do not know: {', '.join(repr(c) for c in unknown)}")
        if repeated:
            parts.append(f"it names {', '.join(repeated)} twice")
        problems.append(
            ImportProblem(1, f"The header line is wrong: {'; '.join(parts)}. Columns: {', '.join(columns)}.")
        )
        return []
    rows: list[CsvRow] = []
    read = 0
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(
                ImportProblem(line, f"This line is not CSV ({error}); nothing after it was read.")
            )
            break
        if not any(cell.strip() for cell in cells):
            line = reader.line_num + 1
            continue
        if read >= max_rows:
            problems.append(ImportProblem(line, f"The file has more than {max_rows:,} rows; split it."))
            break
        read += 1
        if len(cells) != len(named):
            problems.append(
                ImportProblem(line, f"It has {len(cells)} cells where the header names {len(named)} columns.")
            )
        else:
            rows.append(CsvRow(line=line, cells=dict(zip(named, cells, strict=True))))
        line = reader.line_num + 1
    return rows


def cell_unprotected(value: str) -> str:
    """A cell as its author meant it: the quote a spreadsheet, or our own exports
    (csvcells.spreadsheet_safe), put before text that would start a formula taken off."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def cell_is_formula(value: str) -> bool:
    """A cell that a spreadsheet would run, not show ("=SUM(A1:A9)", "=HYPERLINK(...)"): in a
    CSV saved by a spreadsheet it can only have been typed on purpose, and an import must not
    take it as what someone wrote. A leading "+", "-" or "@" is left alone: people begin
    words and names with them, and an export protects them (csvcells.spreadsheet_safe)."""
    return value.lstrip().startswith("=")
