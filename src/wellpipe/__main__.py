from wellpipe.cli import run

run()
