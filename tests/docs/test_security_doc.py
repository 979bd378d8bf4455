"""``docs/security.md`` names, for every promise, tests that exist.

Every table of the page has the columns ``Promise | Proven by``; every row names at least
one test as a pytest node path (``tests/x/test_y.py::test_name`` or
``tests/x/test_y.py::TestClass::test_name``), and each named file must define that test at
its top level or as a method of its ``Test`` class. A renamed or deleted test therefore
fails this suite; that the named tests pass is shown by the suite running them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
HEADER = ("Promise", "Proven by")
#: The fewest rows the page may have; a page emptied by accident must not pass.
MIN_ROWS = 60

_CODE = re.compile(r"`([^`]+)`")
_NODE = re.compile(
    r"(?P<file>tests/(?:[A-Za-z0-9_]+/)*test_[A-Za-z0-9_]+\.py)"
    r"::(?:(?P<cls>Test[A-Za-z0-9_]*)::)?(?P<name>test[A-Za-z0-9_]*)"
)
_SEPARATOR = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")


@dataclass(frozen=True)
class Row:
    """One promise: where it is on the page, its text and the node paths it names."""

    line: int
    promise: str
    proofs: tuple[str, ...]


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]


def parse_rows(text: str) -> list[Row]:
    """The rows of every table in ``text``; raises ``ValueError`` for a table of another
    shape, so that a promise cannot hide in a table this check does not read."""
    rows: list[Row] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if not line.lstrip().startswith("|"):
            number += 1
            continue
        if tuple(_cells(line)) != HEADER:
            raise ValueError(f"line {number + 1}: a table must have the columns {HEADER}")
        if number + 1 >= len(lines) or not _SEPARATOR.fullmatch(lines[number + 1].strip()):
            raise ValueError(f"line {number + 2}: the header's separator row is missing")
        number += 2
        while number < len(lines) and lines[number].lstrip().startswith("|"):
            cells = _cells(lines[number])
            if len(cells) != len(HEADER):
                raise ValueError(f"line {number + 1}: {len(cells)} cells, not {len(HEADER)}")
            rows.append(Row(number + 1, cells[0], tuple(_CODE.findall(cells[1]))))
            number += 1
    return rows


def defined_tests(path: Path) -> set[str]:
    """``name`` of each top-level test function and ``Class::name`` of each method of a
    ``Test`` class at the top level of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, functions):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, functions))
    return found


def problems(rows: list[Row], root: Path) -> list[str]:
    """What is wrong with the rows: no proof, a malformed proof, a missing file or test."""
    found: list[str] = []
    cache: dict[Path, set[str]] = {}
    for row in rows:
        where = f"line {row.line} ({row.promise[:50]}...)"
        if not row.proofs:
            found.append(f"{where}: names no test")
        for proof in row.proofs:
            match = _NODE.fullmatch(proof)
            if match is None:
                found.append(f"{where}: {proof!r} is not a node path tests/...py::test_name")
                continue
            path = root / match["file"]
            if not path.is_file():
                found.append(f"{where}: {match['file']} does not exist")
                continue
            if path not in cache:
                cache[path] = defined_tests(path)
            wanted = f"{match['cls']}::{match['name']}" if match["cls"] else match["name"]
            if wanted not in cache[path]:
                found.append(f"{where}: {match['file']} defines no {wanted}")
    return found


def test_every_row_of_security_md_names_tests_that_exist() -> None:
    rows = parse_rows(DOC.read_text(encoding="utf-8"))
    assert len(rows) >= MIN_ROWS, f"only {len(rows)} promises in {DOC}"
    assert problems(rows, ROOT) == []


def test_the_page_ends_with_its_known_gaps() -> None:
    headings = re.findall(r"^## (.+)$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert headings[-1] == "Known gaps"


# -- the checker itself --------------------------------------------------------------------

SAMPLE_TESTS = '''
import pytest

def test_top(): ...

async def test_async_top(): ...

class TestGroup:
    def test_method(self): ...

class Helper:
    def test_not_collected(self): ...

def outer():
    def test_nested(): ...

if True:
    def test_conditional(): ...
'''


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A repository with one test file, ``tests/x/test_sample.py``."""
    (tmp_path / "tests" / "x").mkdir(parents=True)
    (tmp_path / "tests" / "x" / "test_sample.py").write_text(SAMPLE_TESTS, encoding="utf-8")
    return tmp_path


def _table(*proofs: str) -> str:
    lines = ["| Promise | Proven by |", "| --- | --- |"]
    lines += [f"| promise {n} | {proof} |" for n, proof in enumerate(proofs)]
    return "\n".join(["# Title", "", *lines, ""])


def test_the_checker_accepts_functions_and_test_class_methods(sample: Path) -> None:
    rows = parse_rows(_table(
        "`tests/x/test_sample.py::test_top`",
        "`tests/x/test_sample.py::test_async_top`<br>`tests/x/test_sample.py::TestGroup::test_method`",
    ))
    assert [len(row.proofs) for row in rows] == [1, 2]
    assert problems(rows, sample) == []


@pytest.mark.parametrize(
    ("proof", "complaint"),
    [
        pytest.param("`tests/x/test_sample.py::test_renamed`", "defines no test_renamed",
                     id="renamed"),
        pytest.param("`tests/x/test_gone.py::test_top`", "test_gone.py does not exist",
                     id="file-gone"),
        pytest.param("`tests/x/test_sample.py::test_nested`", "defines no test_nested",
                     id="nested-function"),
        pytest.param("`tests/x/test_sample.py::test_conditional`", "defines no test_conditional",
                     id="conditional"),
        pytest.param("`tests/x/test_sample.py::Helper::test_not_collected`",
                     "is not a node path", id="not-a-test-class"),
        pytest.param("`tests/x/test_sample.py::TestGroup::test_top`",
                     "defines no TestGroup::test_top", id="wrong-class"),
        pytest.param("`tests/x/test_sample.py::test_top[sqlite]`", "is not a node path",
                     id="with-parameters"),
        pytest.param("`tests/x/test_sample.py`", "is not a node path", id="file-only"),
        pytest.param("`tests/x/helpers.py::test_top`", "is not a node path",
                     id="not-a-test-file"),
        pytest.param("no test at all", "names no test", id="empty"),
    ],
)
def test_the_checker_reports_a_missing_or_malformed_proof(
    sample: Path, proof: str, complaint: str
) -> None:
    rows = parse_rows(_table("`tests/x/test_sample.py::test_top`", proof))
    [problem] = problems(rows, sample)
    assert complaint in problem
    assert problem.startswith("line 6 ")  # the second row


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("| Claim | Test |\n| --- | --- |\n| a | `tests/t/test_a.py::test_a` |",
                     id="other-columns"),
        pytest.param("| Promise | Proven by |\n| a | b |", id="no-separator"),
        pytest.param("| Promise | Proven by |\n| --- | --- |\n| a | b | c |", id="extra-cell"),
    ],
)
def test_the_checker_refuses_tables_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="line"):
        parse_rows(text)
