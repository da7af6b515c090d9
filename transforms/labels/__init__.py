"""Annotation formats: one module per format, pure (text and bytes in, text and bytes out).

A layout (`layout.Layout`) is decided once, at launch, and every worker carries it; `classify`
then tells each matched file's role from its key alone. Blur moves no pixel, so a copy's labels
are its source's, renamed: nothing here ever changes a box, a polygon or a mask.
"""
