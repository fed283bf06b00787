from wellpipe.cli import main

main()
