from services.devserver.cli import main

main()
