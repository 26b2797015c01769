"""pypdf against PyMuPDF on Arabic PDFs: text in reading order (4-token shingle F1 against the source text)
and speed. The PDF is 40 corpus articles written with HarfBuzz shaping, as real writers store Arabic.
Needs fpdf2, uharfbuzz and pymupdf (`pip install fpdf2 uharfbuzz pymupdf`; not project dependencies).

    python bench/pdf_readers.py [--articles 40]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import tempfile
import time
import unicodedata
from pathlib import Path

from bench.extraction import shingles

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "antcorpus-ar-news.jsonl.gz"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def write_pdf(texts: list[str], target: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("dejavu", "", FONT)
    pdf.set_font("dejavu", size=12)
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="ara")
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(w=180, h=7, text=text, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.output(target)


def f1(predicted: str, truth: str) -> float:
    found, wanted = shingles(unicodedata.normalize("NFKC", predicted)), shingles(truth)
    return 2 * sum((found & wanted).values()) / max(1, sum(found.values()) + sum(wanted.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=40)
    count = parser.parse_args().articles
    with gzip.open(CORPUS, "rt") as lines:
        texts = [json.loads(line)["text"][:2500] for line in itertools.islice(lines, count)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "arabic.pdf"
        write_pdf(texts, path)
        import pymupdf
        import pypdf

        readers = {
            "pypdf": lambda: [page.extract_text() for page in pypdf.PdfReader(path).pages],
            "pymupdf": lambda: [page.get_text() for page in pymupdf.open(path)],
        }
        for name, read in readers.items():
            started = time.perf_counter()
            pages = read()
            seconds = time.perf_counter() - started
            score = sum(f1(p, t) for p, t in zip(pages, texts)) / len(texts)
            print(f"{name:8} shingle F1 {score:.3f}  {1000 * seconds / len(pages):.1f} ms/page  ({len(pages)} pages)")


if __name__ == "__main__":
    main()
