"""Model selection (paper §4.1 reports the best epoch; docs/official_behaviour.md §1 "evaluation").

Honest default: the checkpoint with the best validation mR, the validation images being carved out of the training
split (`data.validation_fraction`, seeded, stratified by scene). With `validation_fraction: 0` the selection falls back
to the test mR, which is what the official script does (`checkpoint_best.pth` = best test mR): it is then labelled
"test (official protocol)". The official figure (best test mR over all evaluations) is always tracked and reported,
clearly labelled, next to the honestly selected one.

Only scheduled evaluations are candidates (`pirlib.training.loop`); a run stopped before its first one reports its
last evaluation instead, labelled `NO_SELECTION`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SELECTION_METRIC = "mR"
VALIDATION = "validation"
TEST_OFFICIAL = "test (official protocol)"
NO_SELECTION = "none: stopped before the first scheduled evaluation (the last evaluation is reported)"


@dataclass
class ModelSelection:
    criterion: str  # VALIDATION or TEST_OFFICIAL: which split chooses the checkpoint in best/
    selected: dict = field(default_factory=dict)  # {"epoch", "step", "validation", "test"} of the chosen evaluation
    official: dict = field(default_factory=dict)  # {"epoch", "step", "test"} of the best test mR (official figure)

    def update(self, epoch: int, step: int, validation: dict | None, test: dict) -> bool:
        """Record one evaluation; True when it becomes the selected checkpoint (strictly better score)."""
        if not self.official or test[SELECTION_METRIC] > self.official["test"][SELECTION_METRIC]:
            self.official = {"epoch": epoch, "step": step, "test": test}
        score = (validation if self.criterion == VALIDATION else test)[SELECTION_METRIC]
        if self.selected and score <= self.selected["score"]:
            return False
        self.selected = {"epoch": epoch, "step": step, "score": score, "validation": validation, "test": test}
        return True

    def summary(self, last_evaluation: dict | None = None) -> dict:
        """The eval.json part: selected test metrics, how they were selected, and the official-protocol figure
        (`last_evaluation`, {"epoch", "step", "validation", "test"}, stands in for both when nothing was selected)."""
        selected, official, criterion = self.selected, self.official, self.criterion
        if not selected:
            selected = official = last_evaluation or {"epoch": None, "step": None, "validation": None, "test": None}
            criterion = NO_SELECTION
        return {
            "test": selected["test"],
            "validation": selected["validation"],
            "selection": {
                "criterion": criterion,
                "metric": SELECTION_METRIC,
                "epoch": selected["epoch"],
                "step": selected["step"],
            },
            "official_protocol": {
                "description": "best epoch chosen on the TEST set, as the official script does (optimistic)",
                "epoch": official["epoch"],
                "step": official["step"],
                "test": official["test"],
            },
        }

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict) -> ModelSelection:
        return cls(**state)
