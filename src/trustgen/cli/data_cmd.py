"""``trustgen data``: the offline data sets."""

from __future__ import annotations

import typer

app = typer.Typer(help="Offline data sets.", no_args_is_help=True)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the registered data sets (plus imagefolder:PATH for your own images)."""
    import json

    from trustgen.core.data import list_datasets

    infos = list_datasets()
    if as_json:
        typer.echo(json.dumps([i.__dict__ for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "shape", "classes", "conditioning", "description")
    for i in infos:
        table.add_row(i.name, f"{i.channels}×{i.size}×{i.size}", str(i.num_classes or "-"),
                      ",".join(i.conditioning), i.description)
    table.add_row("imagefolder:PATH", "C×S×S", "subfolders", "none,class", "your own images, resized")
    Console().print(table)
