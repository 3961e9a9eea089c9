"""`python -m inrcodec ...`: the same as the `inrcodec` command."""

from .cli.main import main

if __name__ == "__main__":
    main()
