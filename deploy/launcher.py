"""Flex template entry point: the launcher runs this with the template's parameters as
`--name=value` flags (plus --runner, --project, --region, --sdk_container_image, ...)."""

from __future__ import annotations

import sys

from blur_augment.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
