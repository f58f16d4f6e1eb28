"""What every rhovid command shares: one-line user errors and config files found from anywhere.

Every entry point calls `cli.run(main)` instead of `absl.app.run(main)`. A user's mistake (a
`rhovid.errors.UserError`, a bad or missing flag, an unknown `--config.*` key, a config file that
does not exist, a bad preset value) prints one line, `<command>: error: <the value and the fix>`,
and exits with status 2, without a traceback. `--debug` (or the environment variable
`RHOVID_DEBUG=1`) lets the exception through with its traceback. rhovid's own missing-file errors
(`FileNotFoundError("No prepared dataset at ...")`, raised with a message and no errno) count as
user mistakes too. Anything else (a bug, a failing machine) always keeps its traceback.

`--config=configs/byol.py:tiny` names a file in the working directory or, when there is none, one
of the configs installed with the package (`rhovid.configs`, the repository's `configs/` folder),
so the documented commands work after a plain `pip install` from any directory.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from absl import app, flags

from rhovid.errors import UserError

_DEBUG = flags.DEFINE_bool("debug", False, "Show the full traceback of a user error (or set RHOVID_DEBUG=1).")

# TensorFlow's C++ INFO lines after start-up (CPU-feature advice and the like): hidden when this
# module loads before TensorFlow. Warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def configs_dir() -> Path:
    """The configs that ship with the package: `rhovid/configs` installed, `configs/` in a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "configs"
    return installed if installed.is_dir() else package.parent / "configs"


def resolve_config_path(value: str) -> str:
    """`configs/byol.py:tiny` as given if the file exists here, else the installed config's path.

    Raises:
      UserError: neither exists (the message lists the shipped configs).
    """
    path, sep, arg = value.partition(":")
    if os.path.isfile(os.path.expanduser(path)):
        return value
    shipped = configs_dir()
    relative = Path(path)
    if relative.parts[:1] == ("configs",):
        relative = Path(*relative.parts[1:]) if len(relative.parts) > 1 else Path()
    candidate = shipped / relative
    if not relative.is_absolute() and str(relative) not in ("", ".") and candidate.is_file():
        return f"{candidate}{sep}{arg}"
    known = sorted(
        str(Path("configs") / p.relative_to(shipped)) for p in shipped.rglob("*.py") if p.name != "__init__.py"
    )
    raise UserError(
        f"--config={value}: no config file {path!r} in {os.getcwd()} or among the "
        f"installed configs ({', '.join(known) or 'none found'})."
    )


def debug_requested(argv: Sequence[str] = ()) -> bool:
    """--debug on the command line (even before flags parse) or RHOVID_DEBUG=1 in the environment."""
    if os.environ.get("RHOVID_DEBUG", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    if _DEBUG.present:
        return bool(_DEBUG.value)
    return any(a in ("--debug", "-debug", "--debug=true", "--debug=True", "--debug=1") for a in argv)


def run(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> None:
    """`absl.app.run(main)` with one-line user errors (exit status 2) and config-file lookup."""
    given = list(sys.argv if argv is None else argv)
    prog = _program_name(main)
    try:
        argv = _resolve_config_flags(given)
    except UserError as e:
        _fail(prog, e, given)
    # Messages show config paths as the user typed them, not as resolved.
    shown = {r.partition(":")[0]: g.partition(":")[0] for r, g in zip(argv, given, strict=True) if r != g}

    def parse(args: list[str]) -> list[str]:
        try:
            return flags.FLAGS(args)
        except Exception as e:  # turned into one line, or re-raised
            message = flag_error_message(e, args)
            for resolved, typed in shown.items():
                message = message and message.replace(resolved.split("=", 1)[-1], typed.split("=", 1)[-1])
            _fail(prog, e, args, message=message)

    def wrapped(args: list[str]) -> Any:
        try:
            return main(args)
        except Exception as e:
            _fail(prog, e, args)

    app.run(wrapped, argv=argv, flags_parser=parse)


# Native start-up lines that libraries print straight to file descriptor 2 while they load (before
# any log level applies): TensorFlow's oneDNN notice and CPU-feature advice, and absl's C++ notice.
_NATIVE_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|port\.cc:\d+\] oneDNN custom operations"
    r"|cpu_feature_guard\.cc|^To enable the following instructions:.*rebuild TensorFlow"
)


@contextlib.contextmanager
def quiet_native_startup() -> Iterator[None]:
    """Imports inside this block load TensorFlow and XLA without their native start-up lines.

    File descriptor 2 goes to a temporary file for the duration; on exit every line but the known
    start-up notices is written back to stderr, in order (errors and warnings are never lost).
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebooks): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                line
                for line in tmp.read().decode(errors="replace").splitlines(keepends=True)
                if not _NATIVE_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader:
    """Wraps TensorFlow's loader: its module runs inside `quiet_native_startup`, then unwraps."""

    def __init__(self, loader: Any):
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self._loader
        with quiet_native_startup():
            self._loader.exec_module(module)


class _QuietTensorFlowImport:
    """A one-shot import hook: the first `import tensorflow` loads without native start-up lines."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Installs the hook (command-line runs only: `rhovid/__init__.py` calls it under `python -m`)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


# ---------------------------------------------------------------------------------------------
# Messages.


def user_message(e: BaseException) -> str | None:
    """The one-line message of a user's mistake, or None for anything else (keeps its traceback)."""
    if isinstance(e, UserError | app.UsageError):
        return _one_line(str(e))
    # rhovid's own "No prepared dataset at ...", "No config.json in ...": raised with a message
    # only. The operating system's (a library opening a file) carry errno and filename: bugs or
    # environment failures, they keep their traceback.
    if isinstance(e, FileNotFoundError | FileExistsError | NotADirectoryError) and e.errno is None:
        return _one_line(str(e))
    return None


def flag_error_message(e: BaseException, argv: Sequence[str]) -> str | None:
    """One line for an error raised while absl parses the command line, or None for a bug."""
    if isinstance(e, UserError):
        return _one_line(str(e))
    if isinstance(e, AttributeError | KeyError):  # ml_collections: an unknown --config.* key
        return _unknown_key_message(argv)
    if not isinstance(e, flags.Error):
        return None
    cause = _innermost(e)
    text = str(e)
    if cause is not e and isinstance(cause, ValueError | TypeError):
        # A config file's get_config() failed: a preset's value (steps=abc) or a UserError.
        name = re.match(r"flag --([\w.]+)=", text)  # absl: "flag --NAME=VALUE: error"
        value = _flag_argument(argv, name.group(1)) if name else None
        flag = f"--{name.group(1)}={value}" if value is not None else "a flag"
        if isinstance(cause, UserError):
            return f"{flag}: {_one_line(str(cause))}"
        if name and name.group(1) in _config_flag_names():
            return (
                f"{flag}: {type(cause).__name__}: {_one_line(str(cause))} (check the presets "
                "after ':'; the config file's docstring lists them)"
            )
        return f"{flag}: {_one_line(str(cause))}"
    return _one_line(text.replace("\n", " ")) + " (--helpshort lists the flags)"


def _unknown_key_message(argv: Sequence[str]) -> str | None:
    """Names the first `--config.a.b` override that the config has no key for, with near keys."""
    import ml_collections
    from ml_collections import config_flags

    for name in _config_flag_names():
        file_arg = _flag_argument(argv, name)
        if file_arg is None:
            continue
        try:
            config = config_flags.config_flags.ConfigFileFlagParser(name=name).parse(file_arg)
        except Exception:  # then the original error stands
            return None
        paths = sorted(_all_paths(config))
        for arg in argv:
            if not arg.startswith(f"--{name}."):
                continue
            key = arg[len(name) + 3 :].partition("=")[0]
            if key in paths:
                continue
            parent, _, leaf = key.rpartition(".")
            near = [p for p in difflib.get_close_matches(key, paths, n=4, cutoff=0.6) if not key.startswith(p + ".")][
                :3
            ]
            if not near:
                near = [
                    p
                    for p in paths
                    if p.rpartition(".")[0] == parent
                    and difflib.SequenceMatcher(None, p.rpartition(".")[2], leaf).ratio() >= 0.5
                ][:3]
            node = config
            for part in parent.split(".") if parent else ():
                node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
            hint = (
                f"did you mean {' or '.join(near)}?"
                if near
                else (
                    f"{parent or 'the config'} has {', '.join(sorted(node.keys()))}."
                    if isinstance(node, ml_collections.ConfigDict)
                    else ""
                )
            )
            message = f"--{name}.{key}: {file_arg.partition(':')[0]} has no key {key!r}"
            return message + (f"; {hint}" if hint else "") + " (--print_config lists every key)"
    return None


def _all_paths(config: Any, prefix: str = "") -> set[str]:
    import ml_collections

    out = set()
    for key, value in config.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, ml_collections.ConfigDict):
            out |= _all_paths(value, path + ".")
    return out


def _innermost(e: BaseException) -> BaseException:
    """The original exception behind absl's and ml_collections' re-raises."""
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        nxt = e.__cause__ or e.__context__
        if nxt is None:
            break
        e = nxt
    return e


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _fail(prog: str, e: BaseException, argv: Sequence[str], message: str | None = None) -> None:
    message = message or user_message(e)
    if message is None or debug_requested(argv):
        raise e
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _program_name(main: Callable) -> str:
    module = getattr(main, "__module__", "") or ""
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else os.path.basename(sys.argv[0])
    return module


# ---------------------------------------------------------------------------------------------
# --config=FILE lookup.


def _config_flag_names() -> list[str]:
    """The names of the flags defined with `config_flags.DEFINE_config_file`."""
    from ml_collections.config_flags import config_flags

    parser = config_flags.ConfigFileFlagParser
    return [n for n, f in flags.FLAGS._flags().items() if isinstance(f.parser, parser)]


def _flag_argument(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name=V` or `--name V` in argv (the last one wins), or None."""
    value = None
    for i, arg in enumerate(argv):
        if arg in (f"--{name}", f"-{name}") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith((f"--{name}=", f"-{name}=")):
            value = arg.split("=", 1)[1]
    return value


def _resolve_config_flags(argv: list[str]) -> list[str]:
    """argv with every config-file flag's value resolved by `resolve_config_path`."""
    names = set(_config_flag_names())
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if i and arg.startswith("-") and name in names:
            if eq:
                out.append(f"--{name}={resolve_config_path(value)}")
                continue
            if i + 1 < len(argv):
                out += [arg, resolve_config_path(argv[i + 1])]
                skip = True
                continue
        out.append(arg)
    return out


def exit_cleanly_on_sigterm() -> None:
    """`python -m rhovid.main`: SIGTERM before the training loop takes over exits 0, nothing to save.

    A preempted job (TPU maintenance, SLURM) can be signalled while it is still starting up; that
    is not a failure. Installed when the package is first imported, so it covers the start-up
    imports too; the loop replaces it with its save-and-stop handler while it trains.
    """

    def handler(signum, frame):
        sys.stderr.write("rhovid.main: SIGTERM before training started: nothing to save; exiting.\n")
        sys.stderr.flush()
        os._exit(0)  # at once: a SystemExit raised inside a native import can wait on its threads

    signal.signal(signal.SIGTERM, handler)
