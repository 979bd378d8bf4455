"""The package imports cleanly and verifies its own minted tokens."""

import subprocess
import sys

from tekcify_auth import verify_access_token
from tekcify_auth.testing import mint_access_token


def test_minted_token_verifies() -> None:
    token = mint_access_token("user-1", secret="s" * 32)
    result = verify_access_token(token, secret="s" * 32)
    assert result.valid
    assert result.payload["sub"] == "user-1"


def test_import_loads_no_framework_and_no_server() -> None:
    code = (
        "import sys, tekcify_auth\n"
        "banned = ('fastapi', 'starlette', 'flask', 'django', 'rest_framework', 'sqlalchemy',"
        " 'alembic', 'uvicorn', 'werkzeug', 'tekcify_auth.server')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in banned"
        " or m.startswith('tekcify_auth.server'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
