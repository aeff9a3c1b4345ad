"""`python -m lamina --cmake-dir` prints where lamina's CMake package config is."""
import argparse

import lamina


def main():
    parser = argparse.ArgumentParser(prog="python -m lamina", description=__doc__)
    parser.add_argument("--cmake-dir", action="store_true", help="print the CMake package directory")
    parser.add_argument("--version", action="store_true", help="print lamina's version")
    args = parser.parse_args()
    if args.cmake_dir:
        print(lamina.cmake_dir())
    elif args.version:
        print(lamina.__version__)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
