"""The generated documentation is current: docs/configuration.md matches rag/config.py's descriptions and the
README's headline figures match bench/results.json (`python -m bench.docs` rewrites both)."""

import json

from bench.docs import CONFIGURATION, README, RESULTS, configuration, headline, readme_with_headline


def test_configuration_md_is_generated_from_the_settings():
    assert CONFIGURATION.read_text() == configuration(), "run `python -m bench.docs` (make docs)"


def test_every_setting_is_documented():
    text = configuration()
    for variable in ("RAG_SEEDS_DIR", "RAG_LLM__MODEL", "RAG_SERVER__RATE_LIMIT", "RAG_STORE__LEASE_SECONDS"):
        assert f"`{variable}`" in text


def test_the_readme_headline_figures_are_the_last_results():
    readme = README.read_text()
    results = json.loads(RESULTS.read_text())
    assert readme == readme_with_headline(readme, results), "run `python -m bench.docs` (make docs)"
    assert headline(results) in readme


def test_the_readme_stays_a_guide():
    assert len(README.read_text().splitlines()) <= 250
