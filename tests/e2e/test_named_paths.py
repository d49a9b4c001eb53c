"""Prose that cannot rot silently: the files and modules it names exist, and it names no issue.

A move or a rename that leaves a comment behind fails here, with ``file:line: path``.

Prose is the comments and docstrings of the Python files under ``churnops/``, ``stages/``,
``bench/`` and ``tests/``, the ``#`` comments of the root's configuration (:data:`CONFIG_FILES`),
and the whole of ``README.md``, ``BENCHMARKS.md`` and ``docs/*.md``.

A repository path, as read here, is deliberately narrow, so that ordinary prose is never one:

- a token that starts at one of the repository's top-level entries (``churnops/``, ``docs/``,
  ``.dvc/``, ``dvc.yaml``: whatever Git tracks at the root), or at a folder of the package or of
  ``tests/`` (``core/errors.py``, ``e2e/``: found under either), in backticks or plain text, not
  glued to a word, a ``/`` or a ``REV:``;
- that ends in a slash or in one of :data:`EXTENSIONS` (``churnops/registry`` is a branch,
  ``tests/utils/server.running`` a function: neither is checked).

It need not exist when it is a pattern or a placeholder (``*``, ``<stage>``, ``{a,b}``, ``...``, a
one-letter name such as ``stages/x.py``, an all-capitals one such as ``REV``), or when the work
makes it: Git ignores it (``logs/``, ``dvc_plots/``, the DVC cache, a stage output DVC wrote a
``.gitignore`` entry for), ``dvc.yaml`` declares it among a stage's ``outs``/``metrics`` (or it
is inside one), a ``.dvc`` file tracks it, ``churnops/core/paths.py`` declares it (the places a
command creates, e.g. the feedback snapshot and its ``.dvc`` file), or the same document's own
command writes it (``> docs/x.md``). URLs are not read.

A test module named bare (``test_<name>.py``) must exist under ``tests/``, and
``<module>.py::<test>`` must also define ``<test>`` there. Markdown links must resolve from their
document's folder. A dotted ``churnops.<module>[.<name>]`` in prose must import (a module, or a
name in one).

Comments and docstrings under :data:`NO_HISTORY_FOLDERS` say what and why, never which issue a
line came from: that history is Git's, and a reader of the code cannot open the issue anyway.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import yaml

from churnops.core import paths
from tests.utils.project import REPO_ROOT

PYTHON_FOLDERS = ("churnops", "stages", "bench", "tests")
CONFIG_FILES = (
    "dvc.yaml",
    "params.yaml",
    "tests/utils/params.yaml",
    "Makefile",
    "pyproject.toml",
    ".gitignore",
    ".ci/run",
)
EXTENSIONS = frozenset(
    ("py", "md", "json", "jsonl", "yaml", "yml", "toml", "lock", "csv", "parquet", "html", "png", "txt", "dvc", "sh")
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_TOKEN = re.compile(r"(?<![\w./:@~$-])[\w.][\w./*?<>{}\[\]$%…,-]*")
_PLACEHOLDER = re.compile(r"[*?<>{}\[\]$%…]|\.\.\.|(^|/)([A-Za-z](/|\.|$)|[A-Z][A-Z_]*(/|$))")
_TEST_REF = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*test_\w+\.py)(?:::(\w+))?")
_LINK = re.compile(r"\]\(([^()\s]+)\)")
_WRITTEN = re.compile(r">>?\s*([\w./-]+)")
_COMMENT = re.compile(r"(?:^|\s)(#.*)$", re.M)
_DOTTED = re.compile(r"(?<![\w@./-])churnops(?:\.\w+)+")
NO_HISTORY_FOLDERS = ("churnops", "stages", "tests")
_ISSUE = re.compile(r"\bissues?[ -]?#?\d+", re.I)


def _prose() -> Iterator[tuple[Path, int, str]]:
    """``(file, first line, text)`` for each comment, docstring and Markdown document."""
    for name in CONFIG_FILES:
        text = (REPO_ROOT / name).read_text()
        for m in _COMMENT.finditer(text):
            yield REPO_ROOT / name, text.count("\n", 0, m.start(1)) + 1, m.group(1)
    for folder in PYTHON_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            source = path.read_text()
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type == tokenize.COMMENT:
                    yield path, tok.start[0], tok.string
            # A bare string statement does nothing but document: module, class, function and
            # attribute docstrings alike.
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.Expr):
                    continue
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    yield path, node.lineno, ast.get_source_segment(source, node) or ""
    for path in [REPO_ROOT / "README.md", REPO_ROOT / "BENCHMARKS.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        yield path, 1, path.read_text()


@cache
def _git_ls_files() -> frozenset[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return frozenset(out.decode().split("\0")) - {""}


@cache
def _roots() -> tuple[frozenset[str], frozenset[str]]:
    """Top-level entries Git tracks, and the folders of the package and of tests/."""
    top = frozenset(f.split("/", 1)[0] for f in _git_ls_files())
    inner = frozenset(p.name for base in ("churnops", "tests") for p in (REPO_ROOT / base).iterdir() if p.is_dir())
    return top, inner - {"__pycache__"}


@cache
def _made_by_the_work() -> frozenset[str]:
    """Where the pipeline, DVC and churnops commands write: stage outputs, DVC-tracked targets,
    the locations ``churnops/core/paths.py`` declares (a folder's ``.dvc`` file with it)."""
    made: set[str] = set()
    for stage in yaml.safe_load((REPO_ROOT / paths.PIPELINE).read_text())["stages"].values():
        for key in ("outs", "metrics"):
            made.update(e if isinstance(e, str) else next(iter(e)) for e in stage.get(key, []))
    made.update(f.removesuffix(".dvc") for f in _git_ls_files() if f.endswith(".dvc"))
    made.update(v for k, v in vars(paths).items() if k.isupper() and isinstance(v, str))
    return frozenset(made | {f"{m}.dvc" for m in made})


def _ignored(candidates: set[str]) -> set[str]:
    """The candidates Git ignores (what a run makes: logs, plots, caches, DVC outputs)."""
    if not candidates:
        return set()
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        cwd=REPO_ROOT,
        input="\0".join(sorted(candidates)) + "\0",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return set(proc.stdout.split("\0")) - {""}


def _is_path(token: str) -> bool:
    top, inner = _roots()
    first = token.split("/", 1)[0]
    if first not in top and not (first in inner and "/" in token):
        return False
    return token.endswith("/") or Path(token).suffix.removeprefix(".") in EXTENSIONS


def _locations(token: str) -> list[Path]:
    """Where ``token`` may point: from the root, or inside the package or tests/ for an inner folder."""
    first = token.split("/", 1)[0]
    top, _ = _roots()
    return [REPO_ROOT / token] if first in top else [REPO_ROOT / "churnops" / token, REPO_ROOT / "tests" / token]


def _test_module(ref: str) -> Path | None:
    if "/" in ref:
        return next((p for p in _locations(ref) if p.is_file()), None)
    return next(iter(sorted((REPO_ROOT / "tests").rglob(ref))), None)


def _line(start: int, text: str, offset: int) -> int:
    return start + text.count("\n", 0, offset)


def _broken() -> list[str]:
    candidates: list[tuple[str, str]] = []  # (where, path)
    broken: list[str] = []
    for path, start, raw in _prose():
        rel = path.relative_to(REPO_ROOT).as_posix()
        text = _URL.sub(lambda m: " " * len(m.group()), raw)
        written = set(_WRITTEN.findall(text)) if path.suffix == ".md" else set()
        for m in _TOKEN.finditer(text):
            token = m.group().rstrip(".,")
            if _is_path(token) and not _PLACEHOLDER.search(token) and token.rstrip("/") not in written:
                candidates.append((f"{rel}:{_line(start, text, m.start())}", token))
        for m in _TEST_REF.finditer(text):
            ref, func = m.groups()
            if "/" in ref and not _is_path(ref):
                continue
            module = _test_module(ref)
            where = f"{rel}:{_line(start, text, m.start())}"
            if module is None:
                broken.append(f"{where}: {ref}")
            elif func and not re.search(rf"^\s*((async\s+)?def|class) {func}\b", module.read_text(), re.M):
                broken.append(f"{where}: {ref}::{func} (no such test in {module.relative_to(REPO_ROOT)})")
        if path.suffix == ".md":
            for m in _LINK.finditer(text):
                target = m.group(1).split("#", 1)[0]
                if target and not (path.parent / target).exists():
                    broken.append(f"{rel}:{_line(start, text, m.start())}: {target}")
    made = _made_by_the_work()
    ignored = _ignored({p.rstrip("/") for _, p in candidates})

    def exempt(token: str) -> bool:
        bare = token.rstrip("/")
        return bare in ignored or any(bare == m or bare.startswith(f"{m}/") for m in made)

    for where, token in candidates:
        if not exempt(token) and not any(p.exists() for p in _locations(token)):
            broken.append(f"{where}: {token}")
    return sorted(set(broken))


def test_every_path_named_in_prose_exists() -> None:
    broken = _broken()
    assert not broken, f"{len(broken)} named path(s) do not exist:\n" + "\n".join(broken)


def _resolves(dotted: str) -> bool:
    """The longest prefix of ``dotted`` that imports as a module, then attributes for the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_every_churnops_name_in_prose_imports() -> None:
    broken = set()
    for path, start, text in _prose():
        for m in _DOTTED.finditer(text):
            if not _resolves(m.group()):
                broken.add(f"{path.relative_to(REPO_ROOT)}:{_line(start, text, m.start())}: {m.group()}")
    assert not broken, f"{len(broken)} churnops name(s) that do not import:\n" + "\n".join(sorted(broken))


def test_no_comment_or_docstring_names_an_issue() -> None:
    folders = tuple(f"{f}/" for f in NO_HISTORY_FOLDERS)
    found = []
    for path, start, text in _prose():
        rel = path.relative_to(REPO_ROOT).as_posix()
        if path.suffix == ".py" and rel.startswith(folders):
            found += [f"{rel}:{_line(start, text, m.start())}: {m.group()}" for m in _ISSUE.finditer(text)]
    assert not found, f"{len(found)} mention(s) of an issue; say why instead:\n" + "\n".join(found)
