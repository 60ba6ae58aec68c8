from parallelverse.cli import main

main()
