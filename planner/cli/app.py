"""The typer app, the root options, and `main()`: every outcome becomes one line and a documented exit code.

With `--json`, an error is also printed on stdout as one JSON object (message, hint, exit code), so a
script reading stdout always gets JSON.
"""

from __future__ import annotations

import sys

import typer

from planner import __version__
from planner.cli.output import json_requested, note, print_json_error, say
from planner.errors import EXIT_CODE_HELP, ExitCode, MdplanError

app = typer.Typer(
    name="mdplan",
    help=(
        "Plan and carry out the transfer of a camera-trap image set to a MegaDetector team's Azure "
        "container, or decide to mail a hard drive instead.\n\n"
        "Examples (the usual order: estimate, check, upload, then email the report it writes):\n\n\b\n"
        "  mdplan estimate D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan upload D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n\n"
        + EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

INTERRUPTED_LINE = "mdplan: interrupted. Nothing is lost; run the same command again to carry on."
BUG_HINT = "This is a bug in mdplan; please report it with the output of the same command run with --debug."


class State:
    debug = False
    ctrl_c_raised = False  # a Ctrl-C became KeyboardInterrupt, which typer turns into a silent exit 130


state = State()


def raise_ctrl_c() -> None:
    state.ctrl_c_raised = True
    raise KeyboardInterrupt


def _version(value: bool) -> None:
    if value:
        say(f"mdplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full (redacted) tracebacks for unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state.debug = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: every outcome becomes one line and a documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    import signal
    import threading

    state.ctrl_c_raised = False
    before = signal.getsignal(signal.SIGINT)
    if before is signal.default_int_handler and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda signum, frame: raise_ctrl_c())
    try:
        code = _run(args)
    finally:
        if signal.getsignal(signal.SIGINT) is not before and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, before)
    if argv is None:
        _skip_the_last_collections()
        sys.exit(code)
    return code


def _skip_the_last_collections() -> None:
    """The process is about to end: spare it the interpreter's full garbage collections at exit, which walk
    every object of every module loaded (matplotlib, numpy, the Azure SDK: ~0.3 CPU-seconds, issue 14).
    Everything is written and closed by now; exit handlers and flushes still run. Only for the console
    script (argv None), never when called in-process."""
    import gc

    gc.freeze()


def _run(args: list[str]) -> int:
    as_json = json_requested(args)
    try:
        result = app(args=args, prog_name="mdplan", standalone_mode=False)
    except MdplanError as e:
        note(f"mdplan: {e}")
        return _failed(as_json, e.message, e.hint, int(e.exit_code))
    except (typer.Abort, KeyboardInterrupt):
        note(INTERRUPTED_LINE)
        return _failed(as_json, INTERRUPTED_LINE.removeprefix("mdplan: "), None, int(ExitCode.INTERRUPTED))
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # usage errors: unknown option, missing argument, bad value
        return _usage_error(e, as_json)
    except Exception as e:  # a bug: still one line for the user, the traceback only with --debug
        return _bug(e, as_json)
    code = result if isinstance(result, int) else 0
    if code == ExitCode.INTERRUPTED and state.ctrl_c_raised:
        note(INTERRUPTED_LINE)
    return code


def _failed(as_json: bool, message: str, hint: str | None, code: int, *, bug: bool = False) -> int:
    if as_json:
        print_json_error(message, hint, code, bug=bug)
    return code


def _usage_error(e: typer.TyperException, as_json: bool) -> int:
    from planner.redact import redact

    hint = f"Run `{e.ctx.command_path} --help` to see how it is used." if getattr(e, "ctx", None) else None
    msg = redact(e.format_message()).rstrip(".") + "."
    note(f"mdplan: {msg}" + (f" {hint}" if hint else ""))
    return _failed(as_json, msg, hint, int(ExitCode.BAD_INPUT))


def _bug(e: Exception, as_json: bool) -> int:
    import traceback

    from planner.redact import redact

    if state.debug:
        note(redact(traceback.format_exc()))
    message = f"unexpected error ({type(e).__name__}: {redact(e)})."
    note(f"mdplan: {message} {BUG_HINT}")
    return _failed(as_json, message, BUG_HINT, 1, bug=True)
