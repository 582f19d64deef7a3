"""``python -m guanxi`` runs the CLI."""

from guanxi.cli.main import run

if __name__ == "__main__":  # guard: import parsing runs in a spawned child process
    run()
