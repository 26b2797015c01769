"""The HTTP API of a real `rag serve` on a free loopback port: every route, keys, limits, SSE, the openai client."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlparse

import httpx
import pytest

from tests.e2e.conftest import copy_of
from tests.helpers import CORPUS, RAG, REPO, free_port, rag, ready, running_app, wait_for_build

KEY = "test-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = "من هو المتحدث باسم الكرملين؟"
LIMITS = {
    "RAG_SERVER__API_KEYS": f"{KEY},other-key",
    "RAG_SERVER__MAX_QUESTION_CHARS": "300",
    "RAG_SERVER__MAX_REQUEST_MB": "1",
    "RAG_SERVER__MAX_FILES_PER_UPLOAD": "3",
    "RAG_SERVER__ANSWER_WORKERS": "2",
    "RAG_SERVER__MAX_WAITING": "8",
    "RAG_MAX_ARTICLE_MB": "0.5",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Iterator[tuple[str, Path, Path]]:
    """`rag serve` with keys and small limits over a copy of the seeds: URL, seeds folder, index folder.
    Its own embedding cache, so that builds it runs really embed (and take long enough to overlap)."""
    root = tmp_path_factory.mktemp("server")
    seeds, index = copy_of(seed_index, root)
    env = dict(LIMITS, RAG_SEEDS_DIR=str(seeds), RAG_EMBEDDER__CACHE=str(root / "cache"))
    with running_app(index, **env) as (_, url):
        ready(url)
        yield url, seeds, index


@pytest.fixture(scope="module")
def client(served: tuple[str, Path, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], headers=AUTH, timeout=180) as session:
        yield session


def test_health_openapi_and_docs(served: tuple[str, Path, Path]):
    url = served[0]
    health = httpx.get(url + "health").json()  # no key needed: it tells nothing of the articles' text
    assert health["status"] == "ready" and health["articles"] == 1 and health["chunks"] >= 1
    assert health["embedder"] == "embeddinggemma-300m" and health["generation"].startswith("gen-")
    spec = httpx.get(url + "openapi.json").json()
    for path in (
        "/v1/search",
        "/v1/ask",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/articles",
        "/v1/articles/{article_id}",
        "/v1/index",
    ):
        assert path in spec["paths"], path
    assert "AnswerRecord" in spec["components"]["schemas"] and "CitationRecord" in spec["components"]["schemas"]
    assert httpx.get(url + "docs").status_code == 200
    assert httpx.get(url).status_code == 200  # the chat page, mounted on the same app


def test_every_v1_route_needs_a_key(served: tuple[str, Path, Path]):
    url = served[0]
    calls = [
        ("POST", "v1/search", {"json": {"query": QUESTION}}),
        ("POST", "v1/ask", {"json": {"question": QUESTION}}),
        ("POST", "v1/chat/completions", {"json": {"messages": [{"role": "user", "content": QUESTION}]}}),
        ("POST", "v1/embeddings", {"json": {"input": QUESTION}}),
        ("GET", "v1/articles", {}),
        ("POST", "v1/articles", {"files": {"files": ("a.txt", b"x")}}),
        ("DELETE", "v1/articles/a.txt", {}),
        ("POST", "v1/index", {}),
        ("GET", "v1/index", {}),
    ]
    for method, path, body in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            response = httpx.request(method, url + path, headers=headers, timeout=30, **body)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url + "v1/articles", headers={"Authorization": "Bearer other-key"}).status_code == 200


def test_search_gives_the_cli_json_object(served: tuple[str, Path, Path], client: httpx.Client):
    _, _, index = served
    searched = client.post("/v1/search", json={"query": QUESTION, "k": 3})
    assert float(searched.headers["server-timing"].split("dur=")[1]) > 0  # milliseconds spent in the server
    over_http = searched.json()
    local = json.loads(rag("search", QUESTION, "--index", str(index), "-k", "3", "--json").stdout)
    assert over_http.keys() == local.keys() and over_http["query"] == local["query"]
    assert [(h["rank"], h["chunk_id"], h["text"]) for h in over_http["hits"]] == [
        (h["rank"], h["chunk_id"], h["text"]) for h in local["hits"]
    ]
    for remote, here in zip(over_http["hits"], local["hits"]):
        assert remote["score"] == pytest.approx(here["score"], abs=1e-4)
    lexical = client.post("/v1/search", json={"query": QUESTION, "k": 2, "mode": "lexical"}).json()
    assert len(lexical["hits"]) == 2


def test_ask_json_and_its_server_sent_events(client: httpx.Client):
    answer = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert not answer["abstained"] and answer["citations"] and "بيسكوف" in answer["answer"]
    assert set(answer) == {
        "question",
        "answer",
        "abstained",
        "language",
        "method",
        "answer_span",
        "citations",
        "hits",
        "notice",
    }
    events = []
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: ") :])
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    kinds = [e["type"] for e in parsed]
    assert kinds[0] == "progress" and kinds[-1] == "answer" and "delta" in kinds
    assert kinds.index("delta") > max(i for i, k in enumerate(kinds) if k == "progress")
    final = parsed[-1]["answer"]
    assert final["answer"] == answer["answer"] and final["citations"] == answer["citations"]
    follow_up = client.post("/v1/ask", json={"question": "وماذا قال عن الاجتماع؟", "history": [QUESTION]}).json()
    assert not follow_up["abstained"] and "ميامي" in follow_up["citations"][0]["span_text"]


def test_openai_client_streams_chat_completions(served: tuple[str, Path, Path]):
    from openai import OpenAI

    openai = OpenAI(base_url=served[0] + "v1", api_key=KEY, timeout=180, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    whole = openai.chat.completions.create(model="rag-news", messages=messages)
    content = whole.choices[0].message.content or ""
    assert "بيسكوف" in content and "[1]" in content
    assert whole.model_extra and whole.model_extra["citations"][0]["n"] == 1
    pieces, last = [], None
    for chunk in openai.chat.completions.create(model="rag-news", messages=messages, stream=True):
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "".join(pieces) == content
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert last.model_extra and last.model_extra["citations"] == whole.model_extra["citations"]
    with pytest.raises(Exception, match="401"):
        OpenAI(base_url=served[0] + "v1", api_key="wrong", max_retries=0).chat.completions.create(
            model="rag-news", messages=messages
        )


def test_embeddings_come_from_the_loaded_embedder(served: tuple[str, Path, Path], client: httpx.Client):
    from openai import OpenAI

    from rag import Settings
    from rag.embedding import Embedder

    url, _, _ = served
    remote = OpenAI(base_url=url + "v1", api_key=KEY)
    passages = ["علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع.", "Talks resume in Miami."]
    documents = remote.embeddings.create(model="rag-news", input=passages)
    query = remote.embeddings.create(model="rag-news", input=QUESTION, extra_body={"input_type": "query"})
    assert [d.index for d in documents.data] == [0, 1] and documents.usage.prompt_tokens > 10
    embedder = Embedder(Settings().embedder)
    assert documents.model == embedder.name
    here = embedder.encode_documents(passages)
    for row, vector in zip(here, documents.data):
        assert float(row @ vector.embedding) > 0.999
    assert float(embedder.encode_query(QUESTION) @ query.data[0].embedding) > 0.999
    assert client.post("/v1/embeddings", json={"input": []}).status_code == 422
    assert client.post("/v1/embeddings", json={"input": ["a"] * 257}).status_code == 422


def test_remote_embedder_builds_the_index_a_local_one_builds(served: tuple[str, Path, Path], tmp_path: Path):
    """`rag index` and `rag search` with RAG_EMBEDDER__MODEL set to this server: the same chunks as a local
    build, vectors at cosine >= 0.999, the served model's name in the manifest; failures say what went wrong."""
    from rag import Settings
    from rag.articles import load_articles
    from rag.chunking import chunk_article
    from rag.embedding import Embedder
    from rag.stores.local import Store, current_generation

    url = served[0]
    remote = {
        "RAG_EMBEDDER__MODEL": url + "v1",
        "RAG_EMBEDDER__API_KEY": KEY,
        "RAG_EMBEDDER__CACHE": str(tmp_path / "cache"),  # really ask the server
    }
    index = tmp_path / "index"
    env = dict(os.environ, HF_HUB_OFFLINE="1", **remote)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        command = [*RAG, *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=600, cwd=REPO, env=dict(env, **extra), check=False
        )

    built = run("index", "--local", "--seeds", str(REPO / "seeds"), "--index", str(index))
    assert built.returncode == 0, built.stderr[-2000:]
    store = Store(current_generation(index))
    assert store.manifest.embedder == "embeddinggemma-300m"
    chunks, vectors = store.chunks_with_vectors(list(store.manifest.articles))
    local = Embedder(Settings().embedder)
    expected = [
        (article.title, chunk.text)
        for article in load_articles(REPO / "seeds", 2**24).articles
        for chunk in chunk_article(article, local.count_tokens, Settings().chunking)
    ]
    assert [c.text for c in chunks] == [text for _, text in expected]
    here = local.encode_documents([text for _, text in expected], titles=[title for title, _ in expected])
    assert min(float(a @ b) for a, b in zip(here, vectors)) >= 0.999
    found = run("search", "--json", "--index", str(index), "المتحدث باسم الكرملين")
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr[-2000:]
    wrong_key = run("search", "--index", str(index), "x", RAG_EMBEDDER__API_KEY="wrong")
    assert wrong_key.returncode == 2 and "answered 401" in wrong_key.stderr
    closed = run("search", "--index", str(index), "x", RAG_EMBEDDER__MODEL=f"http://127.0.0.1:{free_port()}/v1")
    assert closed.returncode == 2 and "cannot reach the embedding server" in closed.stderr
    assert "Traceback" not in closed.stderr + wrong_key.stderr


def test_limits_give_clear_statuses(client: httpx.Client):
    assert client.post("/v1/ask", json={"question": "س" * 301}).status_code == 422
    assert "over the limit of 300" in client.post("/v1/search", json={"query": "x" * 301}).json()["detail"]
    assert client.post("/v1/ask", json={"question": "   "}).status_code == 422
    assert client.post("/v1/search", json={"query": "x", "k": 1000}).status_code == 422
    assert (
        client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]}).status_code == 422
    )
    big = client.post("/v1/articles", files={"files": ("big.txt", b"x" * (2 * 2**20))})
    assert big.status_code == 413 and "1 MB" in big.json()["detail"]
    over = client.post("/v1/articles", files={"files": ("over.txt", b"x" * (600 * 2**10))}).json()
    assert over["saved"] == [] and over["refused"] == ["over.txt: 0.6 MB is over the 0.5 MB limit"]
    many = client.post("/v1/articles", files=[("files", (f"{i}.txt", "نص".encode())) for i in range(4)])
    assert many.status_code == 413 and "over the limit of 3" in many.json()["detail"]


def test_uploads_land_inside_the_articles_folder_or_are_refused(served: tuple[str, Path, Path], client: httpx.Client):
    _, seeds, _ = served
    text = "خبر قصير عن افتتاح مكتبة جديدة في المدينة.".encode()
    names = ["../../x1.txt", "/etc/x2.txt", "..\\x3.txt"]
    # Distinct texts: identical articles are indexed once.
    first = client.post("/v1/articles", files=[("files", (n, text + f" {i}".encode())) for i, n in enumerate(names)])
    assert first.status_code == 202
    assert first.json()["saved"] == ["x1.txt", "x2.txt", "x3.txt"] and first.json()["build"]["state"] == "building"
    second = client.post(
        "/v1/articles",
        files=[("files", ("y" * 300 + ".txt", text)), ("files", ("x1.txt", text)), ("files", ("tool.exe", b"MZ"))],
    ).json()
    assert second["saved"] == ["y" * 116 + ".txt"]
    assert second["refused"][0].startswith("x1.txt: an article file of that name exists")
    assert second["refused"][1].startswith("tool.exe: not an article file")
    stored = {p.name for p in seeds.iterdir()}
    assert {"x1.txt", "x2.txt", "x3.txt", "y" * 116 + ".txt"} <= stored
    assert not list(seeds.parent.glob("x*.txt")) and not Path("/etc/x2.txt").exists()
    wait_for_build(client)
    ids = {a["id"] for a in client.get("/v1/articles").json()}
    assert {"x1.txt", "x2.txt", "x3.txt"} <= ids
    for name in ("x1.txt", "x2.txt", "x3.txt", "y" * 116 + ".txt"):
        assert client.delete(f"/v1/articles/{name}").status_code == 202
    assert client.delete("/v1/articles/x1.txt").status_code == 404
    assert client.delete("/v1/articles/..%2F..%2Fetc%2Fpasswd").status_code == 404
    wait_for_build(client)
    assert not {"x1.txt", "x2.txt"} & {a["id"] for a in client.get("/v1/articles").json()}


def test_nobody_elses_page_can_drive_the_server(served: tuple[str, Path, Path], client: httpx.Client):
    """The report's curl: a multipart upload (a "simple" request any open page can send) with a foreign Origin is
    refused, as is a rebuild; a DNS-rebinding page's Host reads nothing, of the API or of the chat page."""
    url, seeds, _ = served
    evil = {"Origin": "https://evil.example"}
    posted = client.post("/v1/articles", headers=evil, files=[("files", ("evil.txt", "نص من صفحة أخرى.".encode()))])
    assert posted.status_code == 403 and not (seeds / "evil.txt").exists()
    assert client.post("/v1/index", params={"rebuild": "true"}, headers=evil).status_code == 403
    for path in ("v1/articles", "", "health"):
        assert httpx.get(url + path, headers={**AUTH, "Host": "evil.example"}).status_code == 403
    own = client.post("/v1/search", json={"query": QUESTION}, headers={"Origin": url.rstrip("/")})
    assert own.status_code == 200 and own.json()["hits"]


def test_a_file_that_crashes_its_parser_leaves_no_upload_half_done(client: httpx.Client):
    """a.md and a .json of 100,000 '[' (RecursionError in the JSON reader): 202, the bad file refused with one
    line, a build requested, and a.md indexed (this answered 500 with a.md saved and no build)."""
    text = "افتتح سوق الكتاب في المدينة القديمة يوم السبت بمشاركة أربعين دار نشر.".encode()
    posted = client.post("/v1/articles", files=[("files", ("a.md", text)), ("files", ("deep.json", b"[" * 100_000))])
    assert posted.status_code == 202, posted.text
    body = posted.json()
    assert body["saved"] == ["a.md"] and body["build"] is not None
    assert len(body["refused"]) == 1 and body["refused"][0].startswith("deep.json: ") and "\n" not in body["refused"][0]
    wait_for_build(client)
    assert "a.md" in {a["id"] for a in client.get("/v1/articles").json()}
    assert client.delete("/v1/articles/a.md").status_code == 202
    wait_for_build(client)


def test_pdf_and_web_page_uploads_keep_their_metadata_and_filter_inside_retrieval(client: httpx.Client):
    from tests.helpers import corpus_records, news_page

    story = corpus_records(1)[0]
    page = news_page(story, "windows-1256", 1)
    pdf = (REPO / "tests" / "data" / "arabic.pdf").read_bytes()
    upload = client.post("/v1/articles", files=[("files", ("story.html", page)), ("files", ("rose.pdf", pdf))])
    assert upload.status_code == 202 and upload.json()["saved"] == ["story.html", "rose.pdf"]
    wait_for_build(client)
    articles = {a["id"]: a for a in client.get("/v1/articles").json()}
    assert (articles["story.html"]["source"], articles["story.html"]["date"]) == (story["source"], "2017-01-05")
    assert (
        articles["rose.pdf"]["author"] == "وكالة تونس أفريقيا للأنباء" and articles["rose.pdf"]["date"] == "2017-05-02"
    )
    query = "مهرجان الورد في أريانة"
    everything = client.post("/v1/search", json={"query": query, "k": 3}).json()["hits"]
    assert everything[0]["article_id"] == "rose.pdf"
    only_site = client.post("/v1/search", json={"query": query, "k": 3, "sources": [story["source"].upper()]}).json()
    assert only_site["hits"] and {h["article_id"] for h in only_site["hits"]} == {"story.html"}
    assert (
        only_site["hits"][0]["url"] == quote(story["url"], safe=":/") and only_site["hits"][0]["date"] == "2017-01-05"
    )
    dated = client.post(
        "/v1/search", json={"query": query, "k": 5, "since": "2017-05-01", "until": "2017-05-31"}
    ).json()
    assert {h["article_id"] for h in dated["hits"]} == {"rose.pdf"}
    assert client.post("/v1/search", json={"query": query, "since": "yesterday"}).status_code == 422
    answer = client.post("/v1/ask", json={"question": "متى تنطلق دورة عيد الورد بأريانة؟", "sources": ["nowhere"]})
    assert answer.json()["abstained"] and answer.json()["hits"] == []
    for name in ("story.html", "rose.pdf"):
        assert client.delete(f"/v1/articles/{name}").status_code == 202
    wait_for_build(client)


def test_asks_during_a_build_never_error_and_past_the_queue_get_429(client: httpx.Client):
    with gzip.open(CORPUS, "rt", encoding="utf-8") as corpus:
        records = [json.loads(next(corpus)) for _ in range(12)]
    articles = "\n".join(
        json.dumps({"id": r["id"], "title": r["title"], "text": r["text"]}, ensure_ascii=False) for r in records
    )
    started = client.post("/v1/articles", files={"files": ("corpus.jsonl", articles.encode())})
    assert started.json()["saved"] == ["corpus.jsonl"]
    assert client.post("/v1/index").status_code == 409  # the upload's build is running
    assert client.get("/v1/index").json()["state"] == "building"
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/ask", json={"question": QUESTION}), range(12)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, [r.text for r in responses if r.status_code not in (200, 429)]
    assert statuses.count(200) >= 8 and statuses.count(429) >= 1, statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert all(not r.json()["abstained"] for r in responses if r.status_code == 200)
    report = wait_for_build(client)["last"]
    assert report["added"] == 12 and report["embedded"] > 12
    record = quote(f"corpus.jsonl#{records[0]['id']}")  # an article id as listed; '#' must be escaped in a URL
    assert f"corpus.jsonl#{records[0]['id']}" in {a["id"] for a in client.get("/v1/articles").json()}
    assert "delete corpus.jsonl" in client.delete(f"/v1/articles/{record}").json()["detail"]  # 409: a record
    assert client.delete("/v1/articles/corpus.jsonl").status_code == 202
    wait_for_build(client)


def test_gradio_file_route_refuses_paths_outside(served: tuple[str, Path, Path]):
    """Logged in to the chat (with an API key as the password), so that the path check itself is tried."""
    address = urlparse(served[0])
    login = httpx.post(served[0] + "login", data={"username": "anyone", "password": KEY}, timeout=30)
    assert login.status_code == 200, login.text
    cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
    for path in (
        "/gradio_api/file=../../etc/passwd",
        "/gradio_api/file=..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=/etc/passwd",
    ):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.request("GET", path)  # sent as written: httpx would normalise the dots away
        response = connection.getresponse()
        assert response.status == 401, (path, response.status)  # not logged in
        response.read()
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 403, (path, response.status)
        assert b"root:" not in response.read()
        connection.close()


def test_serving_off_loopback_without_keys_exits_with_one_line(served: tuple[str, Path, Path]):
    index_dir = served[2]
    refused = subprocess.run(
        [*RAG, "serve", "--index", str(index_dir), "--host", "0.0.0.0", "--port", "9"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0 and "refusing to serve on 0.0.0.0" in refused.stderr
    proxied = subprocess.run(
        [*RAG, "serve", "--index", str(index_dir), "--behind-proxy", "--port", "9"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        env=dict(os.environ, RAG_SERVER__API_KEYS="k", RAG_SERVER__UI_AUTH="ana:secret"),
    )  # fmt: skip
    assert proxied.returncode != 0 and proxied.stderr.strip().count("\n") == 0
    assert "behind a proxy" in proxied.stderr and "ALLOWED_HOSTS" in proxied.stderr


def test_the_chat_obeys_the_keys(served: tuple[str, Path, Path], tmp_path: Path):
    """With API keys set and no chat logins, the chat page still asks for one: an API key as its password."""
    from gradio_client import Client, handle_file

    url, seeds, _ = served
    article = tmp_path / "x.md"
    article.write_text("# A note\n\nNothing new.", encoding="utf-8")
    with pytest.raises(Exception, match="(?i)login|auth|401|403"):
        Client(url, verbose=False).predict(handle_file(str(article)), api_name="/add_articles")
    with pytest.raises(Exception, match="(?i)login|auth|401|403"):
        Client(url, verbose=False, auth=("anyone", "not-a-key"))
    assert not (seeds / "x.md").exists()
    history, *_ = Client(url, verbose=False, auth=("anyone", KEY)).predict(QUESTION, [], api_name="/ask")
    assert "بيسكوف" in history[-1]["content"][0]["text"]


def test_without_keys_v1_is_open_and_sigterm_lets_a_request_finish(served: tuple[str, Path, Path]):
    with running_app(served[2]) as (server, url):
        ready(url)
        assert httpx.get(url + "v1/articles").status_code == 200
        result: dict[str, httpx.Response] = {}
        asking = threading.Thread(
            target=lambda: result.update(r=httpx.post(url + "v1/ask", json={"question": QUESTION}, timeout=180))
        )
        asking.start()
        time.sleep(0.3)  # the question is in flight
        server.send_signal(signal.SIGTERM)
        asking.join(180)
        assert server.wait(120) in (0, 143)  # 143: exited on SIGTERM after draining, through `finally`
    assert result["r"].status_code == 200 and result["r"].json()["citations"]
