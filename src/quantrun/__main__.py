from quantrun.cli import main

main()
