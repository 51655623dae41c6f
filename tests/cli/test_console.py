"""Listings as a pipe shows them (80 columns, no terminal): nothing is cut short."""

from __future__ import annotations

import io

from rich.console import Console

from lambeam.cli._console import Column, listing


def _render(table: object, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(table)
    return out.getvalue()


VERSIONS = [
    Column("version", key=True),
    Column("note"),
    Column("by", drop=2),
    Column("when", drop=1),
]
ROWS = [
    ["credit-scoring-model:12", "a few words that may wrap", "someone", "2026-12-06 07:08"],
    ["credit-scoring-model:13", "short", "someone-else", "2026-12-06 07:09"],
]


def test_columns_are_left_out_highest_rank_first_and_keys_stay_whole() -> None:
    text = _render(listing(VERSIONS, ROWS, width=60), width=60)
    assert "credit-scoring-model:12" in text and "credit-scoring-model:13" in text
    assert "…" not in text and max(map(len, text.splitlines())) <= 60
    assert "left out to fit 60 columns: by, when (--json has all)" in text
    assert "someone" not in text


def test_a_listing_that_fits_is_left_whole() -> None:
    text = _render(listing(VERSIONS, ROWS, width=200), width=200)
    assert "left out" not in text
    assert all(cell in text for row in ROWS for cell in row)


def test_too_many_keys_for_the_width_fold_rather_than_cut() -> None:
    refs = [f"credit-scoring-model:{n}" for n in range(1, 6)]
    columns = [Column("metric", key=True), *(Column(ref, key=True) for ref in refs)]
    text = _render(listing(columns, [["accuracy", *["0.9123"] * 5]], width=80))
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    # Folded over lines of their columns, not cropped at the edge: every value is there.
    assert "".join(text.split()).count("0.9123") == 5


def test_cells_are_text_not_markup() -> None:
    text = _render(listing([Column("name", key=True)], [["[bold]x[/bold]"]]))
    assert "[bold]x[/bold]" in text
