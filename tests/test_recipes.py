"""Recipes ship with the package: found by name, by their old source-tree path, or as any YAML file."""

from __future__ import annotations

import pytest

from mobilenet.cli.main import main
from mobilenet.engine.config import load_recipe, resolve_config
from mobilenet.recipes import find_recipe, list_recipes


def test_every_shipped_recipe_resolves_to_a_valid_config():
    assert {"digits", "finetune", "scratch", "imagenet_v3"} <= set(list_recipes())
    for name in list_recipes():
        values = load_recipe(name)
        overrides = {"weights": "w.pth"} if values.get("freeze_epochs") or values.get("freeze_bn") else {}
        assert resolve_config(name, **overrides).epochs == values["epochs"]


@pytest.mark.parametrize("spelling", ["finetune", "finetune.yaml", "recipes/finetune.yaml"])
def test_the_spellings_of_a_shipped_recipe_outside_the_source_tree(spelling, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ folder here
    assert load_recipe(spelling) == load_recipe("finetune") and load_recipe(spelling)["lr"] == 0.001


def test_a_users_file_wins_over_a_shipped_recipe_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "finetune.yaml").write_text("epochs: 3\n")
    (tmp_path / "mine.yaml").write_text("epochs: 4\n")
    assert load_recipe("recipes/finetune.yaml") == {"epochs": 3}
    assert load_recipe("finetune") == {"epochs": 3}  # ./recipes/<name>.yaml, as before the move
    assert load_recipe(str(tmp_path / "mine.yaml")) == {"epochs": 4} == load_recipe("mine.yaml")


@pytest.mark.parametrize("name", ["no-such-recipe", "elsewhere/finetune.yaml", "recipes/finetune"])
def test_an_unknown_recipe_names_the_shipped_ones(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"recipe '{name}' not found; pass a YAML file or one of: "
                                                "detection, digits, finetune, imagenet_v3, scratch"):
        find_recipe(name)
    assert main(["train", "--recipe", name]) == 2
    assert capsys.readouterr().err.count("\n") == 1
