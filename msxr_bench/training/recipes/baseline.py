"""The text-encoder baselines of the BioViL paper (Table 5 "Baseline (ClinicalBERT / PubMedBERT)", Table 4's first
row): the BioViL recipe with any BERT masked-LM model as the text encoder (--text-model: a ClinicalBERT- or
PubMedBERT-style folder or hub id, its own tokenizer and vocabulary) and global alignment only (no MLM in joint
training: MLM is what Table 4's third row adds). A fresh projection to the joint space is trained. Exported as a
`biovil` checkpoint (the `biovil` adapter loads it).
"""

from __future__ import annotations

from msxr_bench.training.recipes.biovil import BioViLRecipe


class BioViLBaselineRecipe(BioViLRecipe):
    name = "biovil-baseline"
    mlm_weight = 0.0

    def __init__(self, config, text_model: str | None = None, image_init: str | None = None) -> None:
        if not text_model:
            raise ValueError("biovil-baseline needs --text-model DIR|HUB_ID: the BERT whose baseline this is "
                             "(e.g. emilyalsentzer/Bio_ClinicalBERT, or a local folder)")
        super().__init__(config, text_model=text_model, image_init=image_init)

    def describe(self) -> dict:
        return {**super().describe(), "baseline": "BioViL recipe, global alignment only, text model "
                                                  f"{self.text_model}"}
