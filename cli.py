"""`python cli.py ...` runs the keras_dsc command line (the same as `keras-dsc ...`)."""
from keras_dsc.cli import cli

if __name__ == "__main__":
    cli()
