"""`python -m blur_augment ...`: the same command as `blur-augment ...`."""

from blur_augment.pipeline.cli import entry_point

if __name__ == "__main__":
    entry_point()
