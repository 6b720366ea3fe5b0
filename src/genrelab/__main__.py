"""``python -m genrelab`` runs the command line."""

from genrelab.cli import main

main()
