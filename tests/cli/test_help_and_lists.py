"""What ``--help`` and ``zoo list`` show a new user."""

from __future__ import annotations

import click
import typer

from cli_support import trustgen


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_positional_argument_has_help_in_help():
    from trustgen.cli.app import app

    arguments = [(path, p) for path, cmd in _commands(typer.main.get_command(app)) for p in cmd.params
                 if isinstance(p, click.Argument)]
    assert len(arguments) >= 10
    missing = [" ".join(path) + f" {p.name}" for path, p in arguments if not getattr(p, "help", None)]
    assert not missing, f"arguments without help: {missing}"
    shown = trustgen("diffusion", "train", "--help")
    assert shown.returncode == 0 and "Setting overrides, e.g. lr=1e-3." in shown.stdout
    assert "SuperNode public keys (node-I.pub)." in trustgen("collab", "register", "--help").stdout


def test_zoo_list_shows_the_cards():
    from trustgen.core.zoo import list_models

    shown = trustgen("zoo", "list")
    assert shown.returncode == 0, shown.stderr
    cards = {c.name: c for c in list_models()}
    ddpm = cards["digits-ddpm"]
    for text in (ddpm.command, f"seed {ddpm.seed}", f"{ddpm.steps:,} steps", "fd_digits=16.88",
                 ddpm.files["unet/diffusion_pytorch_model.safetensors"]):
        assert text in shown.stdout, text
    for card in cards.values():
        assert card.name in shown.stdout and card.command in shown.stdout
