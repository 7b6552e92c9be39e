"""reports.parse_sections: the official MIMIC-CXR section-parser semantics on reports in the real layout."""

from __future__ import annotations

from msxr_bench.data.reports import conclusion, normalize_section_name, parse_sections, split_sections

REPORT = (
    "                                 FINAL REPORT\n"
    " EXAMINATION:  CHEST (PA AND LAT)\n"
    " \n"
    " INDICATION:  ___ year old woman with ?pleural effusion  // ?pleural effusion\n"
    " \n"
    " TECHNIQUE:  Chest PA and lateral\n"
    " \n"
    " COMPARISON:  ___\n"
    " \n"
    " FINDINGS: \n"
    " \n"
    " Cardiac size cannot be evaluated.  Large left pleural effusion is new.  Small\n"
    " right effusion is new.\n"
    " \n"
    " IMPRESSION: \n"
    " \n"
    " Large left pleural effusion\n"
)


def test_sections_of_the_published_example():
    s = parse_sections(REPORT)
    assert list(s) == ["preamble", "examination", "indication", "technique", "comparison", "findings", "impression"]
    assert s["preamble"] == "FINAL REPORT"
    assert s["examination"] == "CHEST (PA AND LAT)"
    assert s["indication"] == "___ year old woman with ?pleural effusion  // ?pleural effusion"
    assert s["comparison"] == "___"
    assert s["findings"] == ("Cardiac size cannot be evaluated.  Large left pleural effusion is new.  Small\n"
                             " right effusion is new.")
    assert s["impression"] == "Large left pleural effusion"
    assert conclusion(s) == "Large left pleural effusion"


def test_raw_offsets_point_at_section_text():
    for name, body, start in split_sections(REPORT):
        assert REPORT[start:start + len(body)] == body


def test_header_needs_newline_then_space_and_upper_case():
    text = "FINAL REPORT\nIMPRESSION: no space before me\n Findings: lower case\n IMPRESSION:no space after\n"
    assert parse_sections(text) == {"full report": text.strip()}
    # more spaces are allowed: the name pattern itself admits spaces, and names are stripped
    assert parse_sections("a\n   IMPRESSION:  b\n") == {"preamble": "a", "impression": "b"}


def test_synonyms_and_typos_are_normalised():
    text = "x\n CONCLUSION: a\n REASON FOR EXAM: b\n IMPRESSON: c\n CLINICAL HISTORY: d\n COMPARISONS: e\n"
    s = parse_sections(text)
    assert s == {"preamble": "x", "impression": "c", "indication": "b", "history": "d", "comparison": "e"}


def test_name_rules_in_order():
    assert normalize_section_name("FINDINGS AND IMPRESSION") == "impression"  # exact synonym first
    assert normalize_section_name("PRELIMINARY IMPRESSION") == "impression"  # contains a main name
    assert normalize_section_name("PORTABLE AP CHEST") == "findings"  # describes the study
    assert normalize_section_name("CHEST, PA LATERAL") == "findings"
    assert normalize_section_name("WET READ") == "wet read"
    assert normalize_section_name("CONCUSION") == "conclusion"  # the official table's own quirk
    assert normalize_section_name("PROCEDURE") == "procedure"  # unknown names stay, lower-cased


def test_empty_findings_dropped_and_last_nonempty_kept():
    text = " CHEST, PA LATERAL:\n \n INDICATION:  cough\n \n FINDINGS: \n \n IMPRESSION:  clear\n"
    s = parse_sections(text)
    # "CHEST, PA LATERAL" normalises to findings but is empty: dropped, as in the official parser
    assert "findings" not in s and s["impression"] == "clear"


def test_duplicate_sections_keep_the_last():
    text = "a\n IMPRESSION:  first\n FINDINGS:  f\n IMPRESSION:  second\n"
    assert parse_sections(text)["impression"] == "second"


def test_last_paragraph_when_no_findings_or_impression():
    text = "hdr\n COMPARISON:  none\n \n The lungs are clear.\n \n No effusion.\n"
    s = parse_sections(text)
    assert s["comparison"] == "none"
    assert s["last_paragraph"] == "The lungs are clear.\n \n No effusion."
    assert conclusion(s) == "The lungs are clear.\n \n No effusion."


def test_next_header_is_not_searched_on_the_header_line():
    # a second header on the same line as the first is part of the first section's text
    text = "p\n FINDINGS:  a\n IMPRESSION: x\n"
    assert parse_sections(text) == {"preamble": "p", "findings": "a", "impression": "x"}
    same_line = "p\n FINDINGS: a\n B: c\n"
    assert parse_sections(same_line)["findings"] == "a"


def test_no_headers_gives_full_report():
    assert parse_sections("just text") == {"full report": "just text"}
    assert conclusion(parse_sections("just text")) == ""
