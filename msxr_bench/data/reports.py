"""Split a MIMIC-CXR free-text report into named sections, with the semantics of the official MIT-LCP
parser (`mimic-cxr/txt/section_parser.py` + `create_section_files.py`), reimplemented from its description.

Rules (see specs/dataset-formats.md §5.7):
- a header is ``"\\n "`` + upper-case name (``A-Z``, space, ``()/,-``) + ``":"`` + one whitespace character;
  the text before the first header is ``preamble``; a report without any header is ``full report``;
- a section's text runs from the end of its header to the start of the next header, and the next header is
  searched from the first newline after the current header (so a header never ends on its own line);
- names are lower-cased and normalised: exact synonyms/typos first (``conclusion`` -> ``impression``, ...),
  then any name containing a main section name (impression, findings, history, comparison, addendum),
  then names describing the study (``chest``, ``portable``, ``pa and lateral``, ...) -> ``findings``;
- empty ``impression``/``findings`` sections are dropped; if neither remains, the last section is cut at
  its first ``"\\n \\n"`` and everything after becomes ``last_paragraph``;
- like `create_section_files.py`, a name that occurs twice keeps its *last* section, and texts are stripped.
The ~50 per-study hand corrections of `custom_mimic_cxr_rules()` are not reproduced (they name real
study ids and change about 0.02 % of reports).
"""

from __future__ import annotations

import re

SECTION_HEADER = re.compile(r"\n ([A-Z ()/,-]+):\s", re.DOTALL)

# official normalisation: exact name -> section (synonyms, then typos as they occur in MIMIC-CXR)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "preamble": ("preamble",),
    "impression": (
        "impression", "conclusion", "findings and impression", "findings/impression", "findings/ impression",
        "ndication", "impresson", "imprression", "imoression", "impressoin", "imprssion", "impresion",
        "imperssion", "mpression", "impession",
    ),
    "findings": (
        "findings", "chest, two views", "finding", "findins", "findindgs", "findgings", "findngs", "findnings",
        "finidngs", "reference findings",
    ),
    "comparison": (
        "comparison", "comparisons", "reference exam", "comparison exam", "comparison film", "comparision",
        "comparsion", "comparrison", "comparisions",
    ),
    "indication": ("indication", "reason for examination", "reason for exam", "clinical indication", "idication"),
    "examination": ("examination", "exam", "type of examination"),
    "technique": ("technique",),
    "history": ("history", "clinical history", "clinical information", "patient history", "pfi"),
    "notification": ("notification",),
    "recommendations": ("recommendation(s)", "recommendations", "recommendation"),
    "addendum": ("addendum",),
    "date": ("date",),
    "comment": ("comment",),
    "wet read": ("wet read", "wetread"),
    # the official table maps these two typos to "conclusion", which it then leaves un-normalised
    "conclusion": ("concusion", "coinclusion"),
}
SECTION_SYNONYMS: dict[str, str] = {name: target for target, names in _SYNONYMS.items() for name in names}
MAIN_SECTIONS = ("impression", "findings", "history", "comparison", "addendum")
STUDY_DESCRIPTION = re.compile(
    "(chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|"
    "frontal view|pa view|ap view|one view|lateral view|bone window|frontal upright|frontal semi-upright|"
    "ribs|pa and lat)"
)
# official priority for "the" conclusion of a report (create_section_files.py)
CONCLUSION_PRIORITY = ("impression", "findings", "last_paragraph", "comparison")


def normalize_section_name(name: str) -> str:
    """Official normalisation of one raw header name."""
    name = name.lower().strip()
    if name in SECTION_SYNONYMS:
        return SECTION_SYNONYMS[name]
    for main in MAIN_SECTIONS:
        if main in name:
            return main
    if STUDY_DESCRIPTION.search(name):
        return "findings"
    return name


def split_sections(text: str) -> list[tuple[str, str, int]]:
    """All sections in order as (normalised name, raw text, start offset), duplicates and empties as the
    official parser leaves them (empty impression/findings dropped, last_paragraph added)."""
    match = SECTION_HEADER.search(text)
    if match is None:
        sections = [("full report", text, 0)]
    else:
        sections = [("preamble", text[: match.start(1)], 0)]
        while match is not None:
            name, start = match.group(1), match.end()
            newline = text.find("\n", start)
            match = SECTION_HEADER.search(text, newline if newline != -1 else start)
            end = len(text) if match is None else match.start()
            sections.append((name, text[start:end], start))
    sections = [(normalize_section_name(n), t, i) for n, t, i in sections]
    sections = [s for s in sections if not (s[0] in ("impression", "findings") and not s[1].strip())]
    names = {s[0] for s in sections}
    if "impression" not in names and "findings" not in names:
        name, last, start = sections[-1]
        if "\n \n" in last:
            head, _, tail = last.partition("\n \n")
            sections[-1] = (name, head, start)
            sections.append(("last_paragraph", tail, start + len(head)))
    return sections


def parse_sections(text: str) -> dict[str, str]:
    """Normalised section name -> stripped text of its last occurrence (official semantics)."""
    return {name: body.strip() for name, body, _ in split_sections(text)}


def conclusion(sections: dict[str, str]) -> str:
    """The official 'conclusion' of a report: impression > findings > last_paragraph > comparison, or ''."""
    for name in CONCLUSION_PRIORITY:
        if name in sections:
            return sections[name]
    return ""
