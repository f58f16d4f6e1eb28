"""docs/recipe.md's table states the configs' values: rhovid defaults and the `:official` preset."""

import ast
import pathlib

import pytest

from rhovid import config as config_lib
from rhovid import recipes

METHODS = ("moco", "simclr", "byol", "swav")
DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "recipe.md"


def _rows():
    rows = {}
    for line in DOC.read_text().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


def _per_method(cell: str) -> dict[str, str]:
    """'moco: 8; others: 64' -> {method: '8' or '64'}."""
    values, named = {}, set()
    for part in cell.split(";"):
        names, value = (s.strip() for s in part.split(":", 1))
        for name in names.split(","):
            name = name.strip()
            targets = (
                METHODS if name == "all" else [m for m in METHODS if m not in named] if name == "others" else [name]
            )
            for m in targets:
                values[m] = value
                named.add(m)
    assert set(values) == set(METHODS), cell
    return values


def _same(doc_value: str, actual) -> bool:
    try:
        parsed = ast.literal_eval(doc_value)
    except (ValueError, SyntaxError):
        return doc_value == str(actual)
    if isinstance(parsed, tuple):
        return len(parsed) == len(actual) and all(_same(repr(p), a) for p, a in zip(parsed, actual))
    if isinstance(parsed, bool) or isinstance(actual, bool):
        return parsed is actual
    return parsed == pytest.approx(actual, rel=1e-4)


def _get(c, key):
    for part in key.split("."):
        c = c[part]
    return c


ROWS = _rows()


def test_the_table_lists_every_recipe_key():
    assert len(ROWS) > 40
    for key in ROWS:
        _get(config_lib.base_config("moco"), key)  # every row names a real config key


@pytest.mark.parametrize("key", sorted(ROWS))
def test_row_matches_the_configs(key):
    cells = ROWS[key]
    default, official = _per_method(cells[3]), _per_method(cells[4])
    changed_by_official = False
    for method in METHODS:
        c = config_lib.base_config(method)
        before = _get(c, key)
        assert _same(default[method], before), f"{key} default for {method}: doc {default[method]}, config {before}"
        recipes.official(c, None)
        after = _get(c, key)
        assert _same(official[method], after), f"{key} :official for {method}: doc {official[method]}, config {after}"
        changed_by_official |= after != before
    assert changed_by_official == ("`:official`" in cells[5]), f"{key}: 'changed by' column"


@pytest.mark.parametrize("key", sorted(ROWS))
def test_aug_plus_changes_exactly_the_rows_that_say_so(key):
    changed = False
    for method in METHODS:
        c = config_lib.base_config(method)
        before = _get(c, key)
        recipes.aug_plus(c, None)
        changed |= _get(c, key) != before
    assert changed == ("`:aug_plus`" in ROWS[key][5]), key


def test_presets_are_exported_and_take_no_value():
    from rhovid.errors import UserError

    assert set(recipes.PRESETS) == {"official", "aug_plus"}
    for name, preset in recipes.PRESETS.items():
        with pytest.raises(UserError, match=f"Preset '{name}' takes no value"):
            preset(config_lib.base_config("moco"), "1")
