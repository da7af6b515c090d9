"""Reading a run's log back: one module per command (`summary`, `query`, `report` and its HTML
`page`, `evaluate` with `detection`, `segmentation`, `levels`, `cocometrics` and its
`evaluation_page`, `preview`), the statistics in `stats`, the levels in `grouping`, DuckDB views
over the files in `database`, reading and formatting shared below them, charts in `plots`, the
HTML helpers in `page`.

DuckDB reads the log's Parquet shards (and a results file) where they lie, local or gs://, in
bounded memory. DuckDB and matplotlib are optional extras; the message for a missing extra says
what to install. Nothing is imported here: a command loads only the modules it uses.
"""
