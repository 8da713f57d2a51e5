"""Where the SQL lives: beside the package in a checkout, inside it in a built wheel."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
SQL_DIR = _PACKAGE / "sql" if (_PACKAGE / "sql").is_dir() else _PACKAGE.parent / "sql"
