"""Readings read back from the stores `metergate ingest` writes, and from a Parquet dataset.

    source = parse_source("victoria://127.0.0.1:8428")        # or an ingest.toml, influx1://, influx2://
    readings = read_source(source, "campus-a", start_ns, end_ns)   # analytics.readings_io.Readings

Each store is read one time chunk at a time (`CHUNK_NS`, a day by default), so a request and its
parsing are bounded by the chunk; only good readings are taken (quality ok, with a value), as the
CSV path has them. The URL forms, what is read and the errors: docs/sources.md.
"""

from cli.sources.errors import SourceEmpty, SourceError
from cli.sources.read import CHUNK_NS, iter_chunks, read_source
from cli.sources.spec import Source, parse_source

__all__ = ["CHUNK_NS", "Source", "SourceEmpty", "SourceError", "iter_chunks", "parse_source",
           "read_source"]
