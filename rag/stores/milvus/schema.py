"""The three Milvus collections of an index, made when missing: their fields (sized as rag.articles cuts an
article's details), the BM25 function over our analyser's terms, and their indexes."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

from rag.articles import MAX_FIELD_BYTES, MAX_ID_BYTES, MAX_SOURCE_BYTES
from rag.stores.milvus.rows import ARTICLE_FIELDS, MAX_PARTS

BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, as the local store uses


class _ExpectedRefusal(logging.Filter):
    """pymilvus logs every refused call as an ERROR with its traceback before raising it. Milvus Lite served over
    gRPC refusing an HNSW index is expected (the store falls back to FLAT), so that record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "local mode only support" not in record.getMessage()


logging.getLogger("pymilvus.decorators").addFilter(_ExpectedRefusal())
# Milvus Lite 2.5 reads its version with pkg_resources, which warns at every import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


@dataclass(frozen=True)
class Collections:
    """The names of an index's collections: `<prefix>_chunks`, `<prefix>_articles`, `<prefix>_meta`."""

    chunks: str
    articles: str
    meta: str

    @classmethod
    def named(cls, prefix: str) -> Collections:
        return cls(f"{prefix}_chunks", f"{prefix}_articles", f"{prefix}_meta")


def add_index(client: Any, collection: str, field: str, kind: str, metric: str, options: dict[str, Any]) -> None:
    params = client.prepare_index_params()
    params.add_index(field_name=field, index_type=kind, metric_type=metric, params=options)
    client.create_index(collection, params, sync=False)


def create_collections(client: Any, uri: str, names: Collections, dimension: int | None) -> None:
    """The three collections, when missing (chunks only once the vector dimension is known)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

    def create(name: str, schema, indexes: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        # Indexes created after the collection, without waiting on them (loading waits for them).
        client.create_collection(name, schema=schema, consistency_level="Strong")
        for field, kind, metric, options in indexes:
            if kind == "HNSW" and uri.endswith(".db"):  # Milvus Lite (a file): no HNSW
                kind, options = "FLAT", {}
            try:
                add_index(client, name, field, kind, metric, options)
            except MilvusException as refused:  # Milvus Lite takes FLAT, IVF_FLAT or AUTOINDEX vectors only
                if kind != "HNSW" or "local mode" not in str(refused):
                    raise
                add_index(client, name, field, "FLAT", metric, {})  # exact search: Lite's is fast enough at 100k
        client.load_collection(name)

    placeholder = [("dummy", "FLAT", "L2", {})]  # Milvus servers need a vector field in every collection
    if not client.has_collection(names.meta):
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=65_535)
        schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
        create(names.meta, schema, placeholder)
    if not client.has_collection(names.articles):
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", DataType.INT64, is_primary=True)  # version_key(id, version)
        schema.add_field("id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        for name in ARTICLE_FIELDS[1:-2]:
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_FIELD_BYTES)
        schema.add_field("copies", DataType.VARCHAR, max_length=65_535)
        schema.add_field("chunks", DataType.INT64)
        schema.add_field(
            "text", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_PARTS, max_length=65_535
        )
        schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
        create(names.articles, schema, placeholder)
    if dimension is not None and not client.has_collection(names.chunks):
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("article_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("version", DataType.VARCHAR, max_length=128)
        for name in ("ordinal", "start", "end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field(  # our analyser's terms: Milvus splits them at spaces only
            "terms",
            DataType.VARCHAR,
            max_length=65_535,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "whitespace"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        for name in ("date", "source", "host"):
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        for name in ("title", "path", "url", "author", "byline"):  # the article's, for hits
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_FIELD_BYTES)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        create(
            names.chunks,
            schema,
            [
                ("vector", "HNSW", "IP", {"M": 32, "efConstruction": 80}),
                ("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25),
                ("article_id", "INVERTED", "", {}),
            ],
        )
