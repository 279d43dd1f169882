"""``python -m trustgen``: the same command line as ``trustgen``."""

from trustgen.cli.app import main

if __name__ == "__main__":
    main()
