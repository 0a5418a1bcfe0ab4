from quantrun.cli import run

run()
