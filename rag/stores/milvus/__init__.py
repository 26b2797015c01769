"""The Milvus engine: the whole index in Milvus (Milvus Lite's file or server, Standalone, Distributed).

Three collections, named `<prefix>_chunks`, `<prefix>_articles` and `<prefix>_meta`:
- chunks: text and offsets, article id and version (the article's content hash), the dense vector, our Arabic
  analyser's terms (joined by spaces) with Milvus's BM25 function over them, the date / source / host that
  scope filters read, and the article's title, path, url, author and byline that hits show;
- articles: one row per article version with its details, its chunk count and its full text;
- meta: the manifest (embedder, chunking, format), every article's active version, chunk count and
  near-duplicates in BUCKETS rows (read whole by a build or a new view, instead of scanning the articles), a
  generation label that changes with every build step searches can see, the build lease, the versions a build
  step is writing or replacing (pending), and the versions no longer active (stale).

An article changes in three steps: the new version's chunks and row are written, the hash bucket switches the
article to it, the old version is listed as stale. Searches keep only chunks of their article's active version,
so a build killed at any point leaves every article at its old or its new version; the next build lists what the
killed one left. Stale versions are removed together once PURGE_AT of them wait: a delete in Milvus Lite costs
what the collection holds (13 ms at 10k chunks, 110 ms at 100k), so a change deletes nothing itself and its cost
follows the change, not the archive.

The package: `engine` (opening, building, the registry of engines), `connection` (the client, the meta rows and
the snapshot read from them), `schema` (the collections),
`rows` (ids, the rows written and the snapshot read back), `writing` (a build's steps), `reading` (a view that
searches), `lease` (one build at a time across machines) and `lite` (Milvus Lite's server mode).
"""

from rag.stores.milvus.engine import MilvusEngine, forget, shared_engine
from rag.stores.milvus.lease import LEASE_SECONDS
from rag.stores.milvus.lite import serve_lite
from rag.stores.milvus.reading import MilvusStore

__all__ = ["LEASE_SECONDS", "MilvusEngine", "MilvusStore", "forget", "serve_lite", "shared_engine"]
