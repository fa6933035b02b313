#!/usr/bin/env python3
"""Django's command-line utility for BanGUI (``bangui`` once installed)."""

from bangui.__main__ import main

if __name__ == "__main__":
    main()
