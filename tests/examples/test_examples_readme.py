"""Each example has a README section naming its one command, its own port (in the 8000s,
never the server's 7001) and its test; the port is the one the example listens on."""

from __future__ import annotations

import re

import pytest
from example_support import ROOT

TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
#: README heading -> (the module its command runs, the file of its default port, its test).
EXAMPLES = {
    "FastAPI": ("examples.fastapi_app", "examples/fastapi_app.py", "test_fastapi_example.py"),
    "Flask": ("examples.flask_app", "examples/flask_app.py", "test_flask_example.py"),
    "Starlette": (
        "examples.starlette_app", "examples/starlette_app.py", "test_starlette_example.py"
    ),
    "Django": (
        "examples.django_app", "examples/django_app/__main__.py", "test_django_example.py"
    ),
}


def default_port(source: str) -> int:
    """``DEFAULT_PORT`` of an example's source."""
    found = re.search(r"^DEFAULT_PORT = (\d+)$", (ROOT / source).read_text(), re.MULTILINE)
    assert found, source
    return int(found.group(1))


def section(name: str) -> str:
    """The README's ``### <name> example`` section."""
    start = TEXT.index(f"\n### {name} example\n")
    ends = [i for i in (TEXT.find("\n## ", start + 1), TEXT.find("\n### ", start + 1)) if i > 0]
    return TEXT[start : min(ends)]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_example_has_a_section_with_its_command_port_and_test(name: str) -> None:
    module, source, test_file = EXAMPLES[name]
    port = default_port(source)
    text = section(name)
    assert 8000 <= port < 9000
    assert f'JWT_ACCESS_SECRET="$(cat .tekcify/jwt_access_secret)" python -m {module}\n' in text
    assert f"on port {port}" in text
    assert f"http://127.0.0.1:{port}/" in text
    assert f"tests/examples/{test_file}" in text
    assert (ROOT / "tests" / "examples" / test_file).is_file()


def test_the_examples_ports_differ_from_each_other_and_the_server() -> None:
    ports = [default_port(source) for _, source, _ in EXAMPLES.values()]
    assert len(set(ports)) == len(ports)
    assert 7001 not in ports


def test_every_example_is_listed() -> None:
    found = {f"examples.{path.stem}" for path in (ROOT / "examples").iterdir()
             if path.stem != "__init__" and (path.suffix == ".py" or path.is_dir())
             and not path.name.startswith((".", "__"))}
    assert found == {module for module, _, _ in EXAMPLES.values()}
