"""Writes the PDF fixtures of tests/readers/test_pdf.py (needs fpdf2 and uharfbuzz, not project dependencies):
an Arabic article shaped with HarfBuzz as real writers store it, and a scanned page (an image, no text).

    python tests/data/make_pdfs.py
"""

from pathlib import Path

from fpdf import FPDF
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TITLE = "مهرجان الورد في أريانة"
TEXT = (
    "تنطلق الدورة الحادية والعشرون لعيد الورد بأريانة يوم الخامس من ماي، وفق ما أعلنت عنه هيئة المهرجان. "
    "ويشارك في المعرض أكثر من مئة عارض من مختلف الولايات التونسية.\n"
    "وقال رئيس الهيئة إن الدورة تحمل شعار حكاية وردة، وإن البرنامج يضم عروضا موسيقية ومسابقات للأطفال."
)


def arabic() -> None:
    pdf = FPDF()
    pdf.add_font("dejavu", "", FONT)
    pdf.set_font("dejavu", size=13)
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="ara")
    pdf.set_title(TITLE)
    pdf.set_author("وكالة تونس أفريقيا للأنباء")
    pdf.set_creation_date(__import__("datetime").datetime(2017, 5, 2, 10, 0))
    for paragraph in TEXT.split("\n"):
        pdf.add_page()
        pdf.multi_cell(w=180, h=8, text=paragraph, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.output(HERE / "arabic.pdf")


def scanned() -> None:
    image = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(image).text((20, 80), "a scanned page: pixels, no text layer", fill=0)
    image.save(HERE / "scan.png")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(HERE / "scan.png", x=10, y=10, w=180)
    pdf.output(HERE / "scanned.pdf")
    (HERE / "scan.png").unlink()


if __name__ == "__main__":
    arabic()
    scanned()
