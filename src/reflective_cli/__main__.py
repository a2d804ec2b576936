from reflective_cli import main

main()
