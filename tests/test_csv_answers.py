"""Lists answered as CSV (fountain_common/routes.py): which Accept headers ask for it, and the CSV itself."""

import csv
import io

import pytest

from fountain_common.routes import csv_text, prefers_csv


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("application/json;q=0.5, text/csv", True),
        ("text/*", True),
        ("application/json", False),
        ("*/*", False),  # a tie is JSON, the default
        ("text/csv, application/json", False),
        ("text/csv;q=0.2, */*;q=0.1", True),
        ("text/csv;q=oops", False),
        ("text/html", False),
    ],
)
def test_csv_is_answered_when_accept_prefers_it(accept: str, wanted: bool) -> None:
    assert prefers_csv(accept) is wanted


def test_csv_has_a_header_of_the_fields_and_one_line_per_row() -> None:
    rows = [
        {"trackId": 1, "name": 'Say "Hi", then go', "unitPrice": "0.99", "composer": None, "explicit": True},
        {"trackId": 2, "name": "Line\nbreak", "unitPrice": "1.29", "composer": "Ann", "explicit": False},
        {"trackId": 3, "name": "Nested", "album": {"albumId": 1, "title": "X"}, "tags": ["a", "b"]},
    ]
    written = csv_text(rows)
    assert written.startswith("trackId,name,unitPrice,composer,explicit,album,tags\r\n")
    assert list(csv.reader(io.StringIO(written, newline=""))) == [
        ["trackId", "name", "unitPrice", "composer", "explicit", "album", "tags"],
        ["1", 'Say "Hi", then go', "0.99", "", "true", "", ""],
        ["2", "Line\nbreak", "1.29", "Ann", "false", "", ""],
        ["3", "Nested", "", "", "", '{"albumId":1,"title":"X"}', '["a","b"]'],
    ]
    assert csv_text([]) == ""
