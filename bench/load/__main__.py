from bench.load.driver import main

if __name__ == "__main__":
    raise SystemExit(main())
