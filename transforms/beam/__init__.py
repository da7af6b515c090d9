"""The Beam layer: every DoFn and PTransform, one module per step, wiring the pure layer
(`transforms`) and the storage layer (`transforms.io`) together:

    matching     listing --input (or a manifest) and each file's role
    claims       output names claimed once (a copy never takes another input's name)
    index        index files read into entries, and written again with the copies
    sample       the sample step: fetch, plan, make every copy, write
    overlap      reads ahead and writes behind on threads (a helper of the sample step)
    shards       WebDataset and Parquet shards, one per worker
    other_files  other files of a dataset copied as they are
    manifest     --input_manifest read with Beam's splittable sources
    marker       the completion marker
    verify       `blur-augment verify`
    graph        BlurDataset: the whole run's graph
    counters     every counter, declared once

It may import the pure and storage layers and apache_beam, never `pipeline`.
"""
