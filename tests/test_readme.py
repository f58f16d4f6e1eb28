"""The README's commands are a tested recipe: everything they name exists.

Every `python -m rhovid.X ...` in the README's bash blocks (and, for modules and flags, in
data/README.md's indented examples) is parsed (continuation lines joined,
comments dropped, commands inside quotes or after `srun` / `&&` found too) and checked:

  * the module exists;
  * every `--flag` is one the command defines (read from its absl flag definitions, in a
    subprocess per command since several commands define flags of the same name);
  * every `--config=FILE[:presets]` names a config file, and the file's `get_config(presets)` runs
    (so every preset and preset value is accepted), and every `--config.a.b=...` override is a
    key of that config;
  * every `--config.pretrained=DIR`, `tools.convert --from=rhovid --checkpoint=DIR` and
    `eval.report DIR` names a workdir an earlier command creates (`--workdir` / `--out`);
  * no argument is left as `...`.

Nothing is run: this checks names, not behaviour (the other tests do that).
"""

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys

import ml_collections
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_commands(path=os.path.join(ROOT, "README.md")) -> list[list[str]]:
    """The argv (after `python -m`) of every rhovid command in the bash blocks, in order."""
    text = open(path).read()
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            commands += _find_commands(shlex.split(line, comments=True))
    return commands


def _find_commands(tokens: list[str]) -> list[list[str]]:
    out, i = [], 0
    while i < len(tokens):
        if (
            tokens[i] == "python"
            and i + 2 < len(tokens)
            and tokens[i + 1] == "-m"
            and tokens[i + 2].startswith("rhovid.")
        ):
            j = i + 2
            while j < len(tokens) and tokens[j] not in ("&&", "||", ";", "|"):
                j += 1
            out.append(tokens[i + 2 : j])
            i = j
        elif " " in tokens[i] and "python -m rhovid." in tokens[i]:  # a quoted command (ssh --command "...")
            out += _find_commands(shlex.split(tokens[i], comments=True))
            i += 1
        else:
            i += 1
    return out


def indented_commands(path: str) -> list[list[str]]:
    """rhovid commands of a Markdown file's indented code lines (synopsis brackets dropped)."""
    text = open(path).read().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.startswith("    python -m rhovid.")]
    return [c for line in lines for c in _find_commands(shlex.split(re.sub(r"[\[\]|]", " ", line), comments=True))]


COMMANDS = readme_commands()
DATA_COMMANDS = indented_commands(os.path.join(ROOT, "data", "README.md"))
MODULES = sorted({c[0] for c in COMMANDS + DATA_COMMANDS})

_FLAGS_SCRIPT = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
if hasattr(module, "define_flags"):
    module.define_flags()
print(json.dumps(sorted(flags.FLAGS)))
"""


@pytest.fixture(scope="module")
def defined_flags():
    """{module: set of flag names} from each command's own absl definitions."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = {}
    for module in MODULES:
        proc = subprocess.run([sys.executable, "-c", _FLAGS_SCRIPT, module], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[module] = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def _flag_items(argv):
    """(name, value or None) of every --flag in argv; positional arguments as (None, value)."""
    items = []
    for arg in argv[1:]:
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            items.append((name, value if eq else None))
        else:
            items.append((None, arg))
    return items


def _load_config(spec: str) -> ml_collections.ConfigDict:
    path, _, arg = spec.partition(":")
    full = os.path.join(ROOT, path)
    assert os.path.isfile(full), f"--config={spec}: no file {path}"
    module_spec = importlib.util.spec_from_file_location(f"readme_{abs(hash(spec))}", full)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def _has_key(config, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            return False
        node = node[part]
    return True


def test_readme_has_commands():
    assert len(COMMANDS) >= 15 and "rhovid.main" in MODULES, COMMANDS


def test_modules_and_flags_exist(defined_flags):
    assert len(DATA_COMMANDS) >= 8, DATA_COMMANDS  # data/README.md's commands are checked too
    for argv in COMMANDS + DATA_COMMANDS:
        assert importlib.util.find_spec(argv[0]) is not None, argv[0]
        for name, value in _flag_items(argv):
            assert value != "..." and not (value or "").endswith("/..."), f"unfinished argument in {argv}"
            if name is None or name.startswith("config."):
                continue
            bare = name.removeprefix("no") if name.removeprefix("no") in defined_flags[argv[0]] else name
            assert bare in defined_flags[argv[0]], f"{argv[0]} has no flag --{name} ({' '.join(argv)})"


def test_configs_presets_and_override_keys_exist():
    for argv in COMMANDS:
        items = _flag_items(argv)
        specs = [v for n, v in items if n == "config"]
        if not specs:
            continue
        config = _load_config(specs[-1])
        for name, _ in items:
            if name and name.startswith("config."):
                key = name.removeprefix("config.")
                assert _has_key(config, key), f"{specs[-1]} has no key {key} ({' '.join(argv)})"


def test_workdirs_are_created_before_use():
    created: list[str] = []
    for argv in COMMANDS:
        items = dict((n, v) for n, v in _flag_items(argv) if n)
        used = []
        if "config.pretrained" in items:
            used.append(items["config.pretrained"])
        if argv[0] == "rhovid.tools.convert" and items.get("from") == "rhovid":
            used.append(items["checkpoint"])
        if argv[0] == "rhovid.eval.report":
            used += [v for n, v in _flag_items(argv) if n is None]
        for path in used:
            matches = [c for c in created if fnmatch.fnmatch(c, path)] if "*" in path else [path]
            assert matches and all(m in created for m in matches), (
                f"{' '.join(argv)}: {path} is not created by an earlier command"
            )
        if argv[0] == "rhovid.main" and "workdir" in items:
            created.append(items["workdir"])
        if argv[0] == "rhovid.tools.convert" and items.get("from") != "rhovid" and "out" in items:
            created.append(items["out"])
