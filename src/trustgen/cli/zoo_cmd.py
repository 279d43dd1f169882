"""``trustgen zoo``: the shipped small models."""

from __future__ import annotations

import typer

app = typer.Typer(help="Shipped small models (trained here by `make zoo`).", no_args_is_help=True)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON.")) -> None:
    """List the zoo models with what their cards say."""
    import json

    from trustgen.core.zoo import list_models

    cards = list_models()
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in cards], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "kind", "data", "steps", "metrics")
    for c in cards:
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in c.metrics.items() if isinstance(v, int | float))
        table.add_row(c.name, c.kind, c.data, str(c.steps), shown)
    Console().print(table)
