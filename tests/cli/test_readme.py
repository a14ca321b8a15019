r"""The README's commands, run for real, so the guide cannot rot.

Every `mdplan ...` line in the README's fenced code blocks is run, in README order, as the installed
console script, against a generated camera-trap sample set and a local Azurite, and its exit code is
compared with the one the README promises. A reader follows the same order, so later commands see what
earlier ones did (the upload before `verify`, `report` and `jobs --forget`).

Which lines are commands
- Blocks tagged `bat`, `cmd`, `powershell`, `sh`, `shell` or `console`: every line that is not empty or
  a comment. `mdplan ...` lines are run; lines that set MDPLAN_SAS are applied; any other line (an
  install step: py, pip, pipx, brew, make, ...) must start with one of OTHER_COMMANDS, which says why
  it is not run here.
- Untagged blocks: only lines of the form `mdplan <command or option>` (they are usually output).
- `text` blocks are output and never run.

Placeholders (what the README writes -> what runs here)
- the folder `D:\camera-traps`, `E:\camera-traps`, `/Volumes/camera-traps` or `/media/you/camera-traps`
  -> the sample set;
- `"https://ACCOUNT.blob.core.windows.net/..."` (anything up to the closing quote) -> a policy-only SAS
  URL (`si=`, racwl: may not delete) for a fresh container in Azurite, as the MegaDetector team sends;
- the job id `358ddb38c413` from the example output -> the id of the job the README's upload created;
- `url.txt` -> a file in the working folder holding that URL.
Environment lines `set "MDPLAN_SAS=URL"`, `$env:MDPLAN_SAS = "URL"` and `export MDPLAN_SAS="URL"` set
MDPLAN_SAS for the rest of their block. `mdplan ... < url.txt` and `Get-Content url.txt | mdplan ...`
(also `type`/`cat`) feed the file as input. Any other Windows path left in a command fails the test: add
it to the placeholders first.

Expected exit code: 0, unless the block is preceded by an HTML comment `<!-- exit N -->` (invisible on
GitHub; the README's prose next to it says the same in words).

Changes made only to stay fast: commands that measure the upload speed (`estimate` with a URL,
`bandwidth`) get `--seconds 2` unless they say how long. A command that is, after substitution, the same
as one already run (the Windows and macOS forms of a step) runs once. Commands in SKIPS cannot run here
and are reported as skipped with their reason.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

COMMAND_TAGS = {"bat", "cmd", "powershell", "sh", "shell", "console"}
FOLDERS = ("D:\\camera-traps", "E:\\camera-traps", "/Volumes/camera-traps", "/media/you/camera-traps")
URL_RE = re.compile(r"https://ACCOUNT\.blob\.core\.windows\.net/[^\"'\s]*")
JOB_ID = "358ddb38c413"
SUBCOMMANDS = {"estimate", "check", "bandwidth", "upload", "verify", "jobs", "report", "demo"}

# mdplan commands that cannot run on this machine, and why.
SKIPS = {
    "--speedtest": "needs speedtest.net on the internet (this machine is offline)",
    "--serve": "runs until Ctrl-C (a practice emulator for a person to use)",
}
# Lines that are not mdplan commands: install and set-up steps. Not run here: they install software
# into the machine; the new-user walkthrough (fresh clone, make demo, pip/pipx install) covers them.
OTHER_COMMANDS = ("py ", "python", "pip", "pipx ", "brew ", "sudo ", "make ", "npm ", "git ", "cd ",
                  "source ", "%USERPROFILE%\\", "~/mdplan-env/", "start ", "open ", "xdg-open ", "echo ")


@dataclass
class Command:
    line: str  # as written in the README
    argv: list[str]  # after substitution, without the leading "mdplan"
    stdin_file: str | None
    env: dict[str, str]
    expect: int
    readme_line: int
    skip: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (tuple(self.argv), self.stdin_file, tuple(sorted(self.env.items())))


def _blocks(text: str):
    """(tag, body, line number of the body, expected exit) for every fenced block."""
    for m in re.finditer(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M):
        before = text[: m.start()].rstrip()
        marker = re.search(r"<!--\s*exit\s+(\d+)\s*-->$", before)
        yield m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 2, int(marker.group(1)) if marker else 0


def _env_assignment(line: str) -> str | None:
    """The value of a line that sets MDPLAN_SAS in cmd, PowerShell or a POSIX shell, else None."""
    for pattern in (r'^set\s+"MDPLAN_SAS=(.*)"$', r"^set\s+MDPLAN_SAS=(.*)$",
                    r'^\$env:MDPLAN_SAS\s*=\s*"(.*)"$', r'^export\s+MDPLAN_SAS="?(.*?)"?$'):
        m = re.match(pattern, line, re.I)
        if m:
            return m.group(1)
    return None


def parse_readme(text: str, *, folder: str = "FOLDER", url: str = "URL", job_id: str = JOB_ID) -> tuple[list[Command], list[str]]:
    """The README's mdplan commands with placeholders substituted, and its other command lines."""
    commands: list[Command] = []
    others: list[str] = []
    for tag, body, first_line, expect in _blocks(text):
        if tag not in COMMAND_TAGS and tag != "":
            continue
        env: dict[str, str] = {}
        for offset, raw in enumerate(body.splitlines()):
            line = raw.strip()
            if not line or line.startswith("#") or line.upper().startswith("REM "):
                continue
            value = _env_assignment(line)
            if value is not None:
                if tag:
                    env["MDPLAN_SAS"] = URL_RE.sub(url, value)
                continue
            stdin_file = None
            pipe = re.match(r"^(?:Get-Content|type|cat)\s+(\S+)\s*\|\s*(mdplan\b.*)$", line, re.I)
            if pipe:
                stdin_file, line_cmd = pipe.group(1), pipe.group(2)
            else:
                line_cmd = line
            redirect = re.match(r"^(mdplan\b.*?)\s*<\s*(\S+)$", line_cmd)
            if redirect:
                line_cmd, stdin_file = redirect.group(1), redirect.group(2)
            words = line_cmd.split()
            is_mdplan = words[0] == "mdplan" and (len(words) == 1 or words[1] in SUBCOMMANDS or words[1].startswith("-"))
            if not is_mdplan:
                if tag:
                    others.append(line)
                continue
            substituted = URL_RE.sub(url, line_cmd)
            for placeholder in FOLDERS:
                substituted = substituted.replace(placeholder, folder)
            substituted = substituted.replace(job_id, "JOB_ID_OF_THE_UPLOAD")
            argv = shlex.split(substituted)[1:]
            cmd = Command(line=line, argv=argv, stdin_file=stdin_file, env=dict(env), expect=expect,
                          readme_line=first_line + offset)
            for needle, reason in SKIPS.items():
                if needle in argv:
                    cmd.skip = reason
            leftover = re.search(r"\S*\\\S*", substituted)  # checked before shlex, which eats backslashes
            if leftover and cmd.skip is None:
                cmd.skip = f"FAIL: Windows path {leftover.group(0)!r} has no placeholder (add it to FOLDERS)"
            measures = argv[:1] == ["bandwidth"] or (argv[:1] == ["estimate"] and "--bandwidth" not in argv
                                                     and (url in argv or "-" in argv[2:] or "MDPLAN_SAS" in env))
            if measures and "--seconds" not in argv and "--speedtest" not in argv:
                cmd.argv = [*argv, "--seconds", "2"]
                cmd.notes.append("--seconds 2 added")
            commands.append(cmd)
    return commands, others


README_TEXT = README.read_text(encoding="utf-8")
COMMANDS, OTHERS = parse_readme(README_TEXT)


def _unique(commands: list[Command]) -> list[Command]:
    seen: set[tuple] = set()
    out = []
    for c in commands:
        if c.key in seen:
            continue
        seen.add(c.key)
        out.append(c)
    return out


UNIQUE = _unique(COMMANDS)


def _mdplan_executable() -> list[str]:
    script = Path(sys.executable).with_name("mdplan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "planner"]


@dataclass
class Ran:
    argv: list[str]
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def readme_runs(azurite, tmp_path_factory) -> dict[int, Ran | str]:
    """Run every unique README command once, in order; results by position in UNIQUE."""
    from planner.sample import generate_sample_set

    work = tmp_path_factory.mktemp("readme")
    folder = work / "camera-traps"
    generate_sample_set(folder, files=24, mean_bytes=40_000, seed=11)
    name = "your-organization-" + os.urandom(4).hex()
    azurite.create_container(name, policies={"your-organization-rw": ("racwl", timedelta(days=14))})
    url = azurite.container_sas_url(name, policy_id="your-organization-rw")
    signature = re.search(r"sig=([^&]+)", url).group(1)
    secrets = {signature, unquote(signature)}
    (work / "url.txt").write_text(url + "\n", encoding="utf-8")
    home = work / "home"
    base_env = {k: v for k, v in os.environ.items() if k != "MDPLAN_SAS"}
    base_env.update(MDPLAN_HOME=str(home), PYTHONIOENCODING="utf-8", COLUMNS="120")

    results: dict[int, Ran | str] = {}
    job_id: str | None = None
    for i, cmd in enumerate(UNIQUE):
        if cmd.skip:
            continue
        argv = [str(folder) if a == "FOLDER" else url if a == "URL" else a for a in cmd.argv]
        if "JOB_ID_OF_THE_UPLOAD" in argv:
            if job_id is None:
                jobs = _run(["jobs", "--json"], base_env, work, None)
                found = __import__("json").loads(jobs.stdout) if jobs.code == 0 else []
                job_id = found[0]["job_id"] if found else "no-job-yet"
            argv = [job_id if a == "JOB_ID_OF_THE_UPLOAD" else a for a in argv]
        env = dict(base_env)
        env.update({k: (url if v == "URL" else v) for k, v in cmd.env.items()})
        stdin = (work / cmd.stdin_file) if cmd.stdin_file else None
        ran = _run(argv, env, work, stdin)
        if any(s in ran.stdout or s in ran.stderr for s in secrets):
            results[i] = f"the SAS signature appeared in the output of: mdplan {' '.join(cmd.argv)}"
        else:
            results[i] = ran
    return results


def _run(argv: list[str], env: dict[str, str], cwd: Path, stdin: Path | None) -> Ran:
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as f:
        p = subprocess.run([*_mdplan_executable(), *argv], env=env, cwd=cwd, stdin=f, capture_output=True,
                           timeout=60, check=False)
    return Ran(argv, p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def test_the_readme_has_the_workflow_commands() -> None:
    """The parser finds the guide's steps (if this fails, the README or the placeholder rules changed)."""
    firsts = {c.argv[0] for c in COMMANDS if c.argv}
    assert {"estimate", "check", "upload", "verify", "report", "jobs", "bandwidth"} <= firsts
    assert any(c.stdin_file for c in COMMANDS), "the url.txt way of giving the URL is not exercised"
    assert any("MDPLAN_SAS" in c.env for c in COMMANDS), "the MDPLAN_SAS way of giving the URL is not exercised"
    assert any(c.expect != 0 for c in COMMANDS), "no command documents a failure exit code"


def test_every_other_command_line_is_a_known_install_step() -> None:
    unknown = [line for line in OTHERS if not line.startswith(OTHER_COMMANDS)]
    assert not unknown, f"README command lines that are neither mdplan nor a known install step: {unknown}"


@pytest.mark.parametrize("index", range(len(UNIQUE)),
                         ids=[f"L{c.readme_line}:mdplan {' '.join(c.argv)}"[:90] for c in UNIQUE])
def test_readme_command(index: int, readme_runs) -> None:
    cmd = UNIQUE[index]
    if cmd.skip and cmd.skip.startswith("FAIL"):
        pytest.fail(f"README line {cmd.readme_line}: {cmd.skip}")
    if cmd.skip:
        pytest.skip(f"README line {cmd.readme_line}: {cmd.skip}")
    ran = readme_runs[index]
    assert not isinstance(ran, str), ran
    assert ran.code == cmd.expect, (
        f"README line {cmd.readme_line}: `{cmd.line}` exited with {ran.code}, the README says {cmd.expect}.\n"
        f"stdout: {ran.stdout[-1500:]}\nstderr: {ran.stderr[-1500:]}")
    assert "Traceback" not in ran.stderr


def test_readme_version_and_python_match_the_package() -> None:
    from planner import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"mdplan {__version__}" in README_TEXT, "the README's `mdplan --version` output is stale"
    assert project["version"] == __version__
    minimum = re.match(r">=\s*(\d+\.\d+)", project["requires-python"]).group(1)
    assert f"Python {minimum} or newer" in README_TEXT and f"Python {minimum}+" in README_TEXT


def test_the_placeholder_rules() -> None:
    """The substitution itself, on a made-up README, so a broken parser cannot pass by running nothing."""
    text = (
        "<!-- exit 3 -->\n```bat\n"
        'mdplan check "https://ACCOUNT.blob.core.windows.net/your-organization?sv=...&sig=..."\n'
        "py -m pipx install .\n```\n\n"
        '```powershell\n$env:MDPLAN_SAS = "https://ACCOUNT.blob.core.windows.net/x?sig=..."\n'
        "Get-Content url.txt | mdplan check -\nmdplan upload D:\\camera-traps --bwlimit \"08:00,512k 18:00,off\"\n```\n"
        "```text\nmdplan 0.1.0\n```\n```\nmdplan: an error line\nmdplan report 358ddb38c413 --out a.html\n```\n"
    )
    cmds, others = parse_readme(text, folder="F", url="U")
    assert [c.argv for c in cmds] == [["check", "U"], ["check", "-"],
                                      ["upload", "F", "--bwlimit", "08:00,512k 18:00,off"],
                                      ["report", "JOB_ID_OF_THE_UPLOAD", "--out", "a.html"]]
    assert [c.expect for c in cmds] == [3, 0, 0, 0]
    assert cmds[1].stdin_file == "url.txt" and cmds[1].env == {"MDPLAN_SAS": "U"} and cmds[2].env == {"MDPLAN_SAS": "U"}
    assert cmds[3].env == {}
    assert others == ["py -m pipx install ."]
    bad, _ = parse_readme("```bat\nmdplan upload C:\\other --dry-run\n```\n", folder="F", url="U")
    assert bad[0].skip and bad[0].skip.startswith("FAIL")



@pytest.mark.parametrize("first_line", ["\ufeff{url}\r\n", "ï»¿{url}\r\n", "{url}\n"],
                         ids=["utf-8 BOM", "utf-8 BOM read as cp1252 (Windows console)", "plain"])
def test_url_txt_as_notepad_saves_it(first_line: str) -> None:
    """The README's `mdplan check - < url.txt`: a file saved 'with BOM' still reads as the URL."""
    import io

    from planner.sas import resolve_sas_argument

    url = "https://acct.blob.core.windows.net/team?sv=2024-11-04&si=team-rw&sr=c&sig=abc%3D"
    sas = resolve_sas_argument("-", stdin=io.StringIO(first_line.format(url=url)))
    assert sas is not None and sas.account_name == "acct" and sas.container == "team"


def test_url_txt_saved_as_utf16_says_how_to_fix_it() -> None:
    import io

    from planner.errors import BadInput
    from planner.sas import resolve_sas_argument

    url = "https://acct.blob.core.windows.net/team?sv=2024-11-04&si=team-rw&sr=c&sig=abc%3D"
    as_read = ("\ufeff" + url + "\r\n").encode("utf-16-le").decode("cp1252", "replace")
    with pytest.raises(BadInput) as e:
        resolve_sas_argument("-", stdin=io.StringIO(as_read))
    assert "UTF-16" in str(e.value) and "abc" not in str(e.value)
