"""The subcommands, one module each: its one-line `HELP`, its `arguments(parser)` and its
`run(args, rest) -> exit status`. Declaring a command imports nothing heavy: each `run`
imports the module that does the work, so `blur-augment --help` and a command's `--help`
answer without loading Beam, DuckDB or matplotlib.
"""

# The commands in the order `blur-augment --help` lists them.
NAMES = ("run", "summary", "query", "report", "evaluate", "verify", "preview")
