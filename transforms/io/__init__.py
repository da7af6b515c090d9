"""The storage layer: reading and writing objects on any Beam filesystem (`storage`), telling
storage failures apart (`failures`), listing an input (`listing`), items inside shards
(`items`) and the counts a local run's progress bar shows (`progress`). It may import the pure
layer and Beam's FileSystems, never the Beam DoFns (`transforms.beam`) nor `pipeline`."""
