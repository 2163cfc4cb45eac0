"""The properties of a training run that NetTrain's third argument and NetTrainResults name."""

from __future__ import annotations

from ..errors import NetSpecificationError, closest

__all__ = ["ALIASES", "PROPERTIES", "check_property", "canonical"]

PROPERTIES = (
    "TrainedNet",
    "FinalNet",
    "BatchLossList",
    "RoundLossList",
    "ValidationLossList",
    "RoundLoss",
    "ValidationLoss",
    "BatchMeasurementsLists",
    "RoundMeasurements",
    "RoundMeasurementsLists",
    "ValidationMeasurements",
    "ValidationMeasurementsLists",
    "LossEvolutionPlot",
    "TotalTrainingTime",
    "MeanExamplesPerSecond",
    "MeanBatchesPerSecond",
    "TotalRounds",
    "TotalBatches",
    "BatchSize",
    "BatchesPerRound",
    "ExamplesProcessed",
    "TrainingExamples",
    "ValidationExamples",
    "BestValidationRound",
    "ReasonTrainingStopped",
    "InitialLearningRate",
    "FinalLearningRate",
    "OptimizationMethod",
    "ArraysLearningRateMultipliers",
    "CheckpointingFiles",
    "TargetDevice",
    "TrainingNet",
    "Properties",
)
#: Wolfram's renamed and legacy property names.
ALIASES = {
    "LossPlot": "LossEvolutionPlot",
    "FinalRoundLoss": "RoundLoss",
    "FinalValidationLoss": "ValidationLoss",
    "MeanInputsPerSecond": "MeanExamplesPerSecond",
    "TotalInputs": "ExamplesProcessed",
}


def canonical(prop: str) -> str:
    """The property's current name (aliases resolved)."""
    return ALIASES.get(prop, prop)


def check_property(prop: object, where: str) -> str:
    """``prop`` if it names a property (or an alias); NetSpecificationError naming ``where`` otherwise."""
    if not isinstance(prop, str) or (prop not in PROPERTIES and prop not in ALIASES):
        hint = closest(prop, PROPERTIES) if isinstance(prop, str) else ""
        raise NetSpecificationError(
            f"{where}: {prop!r} is not a property of a training run.{hint} "
            f"The properties are: {', '.join(PROPERTIES)}, or All."
        )
    return prop
