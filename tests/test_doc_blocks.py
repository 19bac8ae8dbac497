"""Docs that run: every shell and Python block of README.md and docs/*.md.

Each page runs in order, in one fresh temporary directory, with a fresh
``JURA_TRUST_HOME``, ``XDG_*`` directories (so no configuration file) and this
venv's ``bin`` first on ``PATH``, so a block may use the files an earlier
block of the same page made. Shell blocks (``sh``, ``bash``, ``console``) run
one command at a time under ``bash -e -o pipefail`` with a timeout; Python
blocks run with ``exec`` in a fresh namespace.

An HTML comment just before a block says how to run it:

* ``<!-- doc-test: file=NAME -->`` writes the block (JSON, TOML, text) to
  ``NAME`` in the page's directory, for the blocks after it;
* ``<!-- doc-test: venv -->`` a set-up line ``[python3 -m venv .venv &&]
  .venv/bin/pip install ... [&&]`` is replaced by ``.venv`` linked to this
  venv (the package and its extras are installed in it); the rest runs;
* ``<!-- doc-test: service -->`` the block needs a live service: a
  ``jura-trust serve`` line in it is run by the test itself (replacing the
  page's earlier service), on
  127.0.0.1 with a free port and the page's ``--home`` replaced by a fresh
  directory, keeping every other documented option; ``http://127.0.0.1:8080``
  and ``127.0.0.1:3332`` in service blocks become the live service's URLs;
* ``<!-- doc-test: skip reason="..." -->`` only for what cannot run here
  (a system's package manager, systemd, a PostgreSQL server, minutes-long
  benchmarks); :func:`test_every_skipped_block_gives_a_reason` keeps them few.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "console"}
RUN = SHELL | {"python"}
COMMAND_TIMEOUT = 60.0
SERVICE_URL = "http://127.0.0.1:8080"
SERVICE_TCP = "127.0.0.1:3332"

_BLOCK_RE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARK_RE = re.compile(r"<!--\s*doc-test:\s*((?:(?!-->).)*?)\s*-->\s*\Z", re.DOTALL)
_VENV_RE = re.compile(r"^(python3 -m venv \.venv && )?\.venv/bin/pip install [^&]*(&& )?")


@dataclass
class Block:
    """One fenced block of a page and its ``doc-test`` marks."""

    page: Path
    line: int
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        name = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{name}:{self.line}"


def _parse_marks(text: str) -> dict[str, str]:
    marks: dict[str, str] = {}
    for m in re.finditer(r'(\w+)(?:=("([^"]*)"|\S+))?', text):
        value = m.group(3) if m.group(3) is not None else (m.group(2) or "")
        marks[m.group(1)] = value
    return marks


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, with the marks of the comment just before it."""
    text = page.read_text(encoding="utf-8")
    found = []
    for m in _BLOCK_RE.finditer(text):
        before = text[: m.start()]
        mark = _MARK_RE.search(before[-400:])
        line = before.count("\n") + 1
        marks = _parse_marks(mark.group(1)) if mark else {}
        found.append(Block(page, line, m.group(1), m.group(2), marks))
    return found


def commands(text: str) -> Iterator[str]:
    """The commands of a shell block: continuations joined, comments and prompts dropped."""
    current = ""
    for raw in text.splitlines():
        line = raw.removeprefix("$ ")
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        yield current.strip()
        current = ""
    if current:
        yield current.strip()


class Page:
    """The running state of one page: its directory, environment and service."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "work"
        self.dir.mkdir()
        venv_bin = Path(sys.executable).parent
        home = tmp / "home"
        home.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("JURA_TRUST", "XDG_"))}
        self.env.update(
            HOME=str(home),
            JURA_TRUST_HOME=str(tmp / "jura-home"),
            XDG_CONFIG_HOME=str(tmp / "xdg-config"),
            XDG_DATA_HOME=str(tmp / "xdg-data"),
            XDG_CACHE_HOME=str(tmp / "xdg-cache"),
            XDG_STATE_HOME=str(tmp / "xdg-state"),
            PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        self.env.pop("VIRTUAL_ENV", None)
        self.tmp = tmp
        self.server: object | None = None
        self.url = ""
        self.tcp = ""

    def shell(self, block: Block) -> None:
        for written in commands(block.text):
            command = written
            if "venv" in block.marks:
                command = self._venv(command)
                if not command:
                    continue
            if "service" in block.marks:
                if self._is_serve(command):
                    self._start_service(command)
                    continue
                command = command.replace(SERVICE_URL, self.url)
                command = command.replace(SERVICE_TCP, self.tcp.removeprefix("ksi+tcp://"))
            self._run(block, command)

    def _venv(self, command: str) -> str:
        m = _VENV_RE.match(command)
        if m is None:
            return command
        venv = self.dir / ".venv"
        if not venv.exists():
            venv.symlink_to(Path(sys.executable).parent.parent)
        return command[m.end() :].strip()

    @staticmethod
    def _is_serve(command: str) -> bool:
        words = shlex.split(command, comments=True)
        return words[:2] == ["jura-trust", "serve"] or words[:3] == [
            "python",
            "-m",
            "jura_trust.service",
        ]

    def _start_service(self, command: str) -> None:
        from tests.service.server import ServerProcess

        self.close()  # a later serve line replaces the page's service
        words = shlex.split(command, comments=True)
        words = words[2:] if words[0] == "jura-trust" else words[3:]
        args: list[str] = []
        home = self.tmp / "service-home"
        config = None
        i = 0
        while i < len(words):
            if words[i] in ("--home", "--listen", "--config"):
                if words[i] == "--config":
                    config = self.dir / words[i + 1]
                i += 2
                continue
            args.append(words[i])
            i += 1
        server = ServerProcess(home, *args, config=config)
        server.start()
        self.server = server
        self.url = server.url.rstrip("/")
        self.tcp = server.tcp_url

    def _run(self, block: Block, command: str) -> None:
        script = "set -e -o pipefail\n" + command
        if re.match(r"^(export|source|\.) ", command):
            script += '\nenv -0 > "$JT_DOC_ENV"'
        env = dict(self.env, JT_DOC_ENV=str(self.tmp / "env.out"))
        try:
            done = subprocess.run(
                ["bash", "-c", script],
                check=False,
                cwd=self.dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{block.where}: timed out: {command}")
        if done.returncode != 0:
            pytest.fail(
                f"{block.where}: exit {done.returncode}: {command}\n"
                f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            )
        if "JT_DOC_ENV" in script and (self.tmp / "env.out").exists():
            pairs = (self.tmp / "env.out").read_text().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
            self.env.pop("JT_DOC_ENV", None)

    def python(self, block: Block) -> None:
        code = block.text
        if "service" in block.marks:
            code = code.replace(SERVICE_URL, self.url)
        namespace: dict[str, object] = {"__name__": "__doc_block__"}
        old_cwd = Path.cwd()
        old_environ = dict(os.environ)
        os.chdir(self.dir)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            exec(compile(code, block.where, "exec"), namespace)
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_environ)
            for value in namespace.values():
                close = getattr(value, "close", None)
                if type(value).__name__ == "EmbeddedBackend" and callable(close):
                    close()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]
            self.server = None


def run_page(page: Path, tmp: Path) -> list[str]:
    """Run every block of ``page``; return what ran (``where``) for the assertions."""
    state = Page(tmp)
    ran = []
    try:
        for block in blocks(page):
            if "skip" in block.marks:
                continue
            if "file" in block.marks:
                target = state.dir / block.marks["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
                continue
            if block.lang in SHELL:
                state.shell(block)
            elif block.lang == "python":
                state.python(block)
            else:
                continue
            ran.append(block.where)
    finally:
        state.close()
    return ran


def _runnable_pages() -> list[Path]:
    return [p for p in PAGES if any(b.lang in RUN for b in blocks(p))]


@pytest.mark.parametrize("page", _runnable_pages(), ids=lambda p: p.name)
def test_doc_page_blocks_run(page: Path, tmp_path: Path) -> None:
    """Every shell and Python block of the page runs as written, in order."""
    ran = run_page(page, tmp_path)
    expected = [b.where for b in blocks(page) if b.lang in RUN and "skip" not in b.marks]
    assert ran == expected


def test_every_skipped_block_gives_a_reason() -> None:
    """A block is skipped only with a reason, and only a few are."""
    skipped = [b for p in PAGES for b in blocks(p) if "skip" in b.marks]
    assert all(b.marks["skip"] == "" and b.marks.get("reason") for b in skipped), [
        b.where for b in skipped
    ]
    runnable = [b for p in PAGES for b in blocks(p) if b.lang in RUN]
    assert len(skipped) * 2 <= len(runnable), [b.where for b in skipped]


def test_marks_are_known_and_attached_to_a_block() -> None:
    """A misspelt mark, or one that is not just before a block, is caught."""
    known = {"skip", "reason", "file", "venv", "service"}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        attached = sum(1 for b in blocks(page) if b.marks)
        assert text.count("<!-- doc-test:") == attached, page.name
        for b in blocks(page):
            assert set(b.marks) <= known, (b.where, b.marks)


def test_the_runner_fails_a_failing_block(tmp_path: Path) -> None:
    """The runner cannot pass a block that fails (no test that cannot fail)."""
    page = tmp_path / "page.md"
    page.write_text("```sh\ntrue\nfalse\n```\n", encoding="utf-8")
    (tmp_path / "run").mkdir()
    with pytest.raises(pytest.fail.Exception, match="exit 1: false"):
        run_page(page, tmp_path / "run")


def test_docs_link_the_examples() -> None:
    """Every example in examples/ is linked from README.md or docs/."""
    text = "".join(p.read_text(encoding="utf-8") for p in PAGES)
    missing = [e.name for e in (ROOT / "examples").glob("*.py") if e.name not in text]
    assert missing == []
