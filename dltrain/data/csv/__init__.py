"""CSV tables: a fast path (pyarrow, arrow.py) and a careful row-by-row path (reader.py) that
agree; layout.py plans which files and columns a config reads, tabular.py and
split_store.py turn chunks into one array per split and column, stream.py reads chunk by
chunk for `stream: true`."""
