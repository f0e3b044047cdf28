"""Typed checks with ``ome-zarr-models`` (0.4 and 0.5), after the spec's schema.

The schema is the judge of what is valid. The models add the spec's text
rules a schema cannot state (scale length vs axes, axis order, level order),
as errors; a rule that is the library's own and not the spec's is a warning.
Messages are pydantic's "json.path: message" lines, with the rule they come
from where the library names it.
"""

from __future__ import annotations

import warnings as pywarnings
from typing import Any, Mapping

import pydantic
from ome_zarr_models.v04.bioformats2raw import BioFormats2RawAttrs as BF2RawV04
from ome_zarr_models.v04.hcs import HCSAttrs as HCSV04
from ome_zarr_models.v04.image import ImageAttrs as ImageV04
from ome_zarr_models.v04.image_label import ImageLabelAttrs as LabelV04
from ome_zarr_models.v04.labels import LabelsAttrs as LabelsV04
from ome_zarr_models.v04.well import WellAttrs as WellV04
from ome_zarr_models.v05.bioformats2raw import BioFormats2RawAttrs as BF2RawV05
from ome_zarr_models.v05.hcs import HCSAttrs as HCSV05
from ome_zarr_models.v05.image import ImageAttrs as ImageV05
from ome_zarr_models.v05.image_label import ImageLabelAttrs as LabelV05
from ome_zarr_models.v05.labels import LabelsAttrs as LabelsV05
from ome_zarr_models.v05.well import WellAttrs as WellV05

MODELS: dict[str, dict[str, type[pydantic.BaseModel]]] = {
    "0.4": {"image": ImageV04, "label": LabelV04, "plate": HCSV04, "well": WellV04, "bf2raw": BF2RawV04, "labels": LabelsV04},
    "0.5": {"image": ImageV05, "label": LabelV05, "plate": HCSV05, "well": WellV05, "bf2raw": BF2RawV05, "labels": LabelsV05},
}
# Rules of the model library that neither the spec's text nor its schema makes:
# reported as advice, never as an error.
LIBRARY_RULES = (
    (("Inconsistent", "label_value"), "label-value sets of 'colors' and 'properties' differ (a check of ome-zarr-models, not a spec rule)"),
)


def model_findings(version: str, role: str, doc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, warnings) the typed model of ``role`` finds in ``doc``; none for other versions."""
    model = MODELS.get(version, {}).get(role)
    if model is None:
        return [], []
    errors: list[str] = []
    warnings: list[str] = []
    for line in describe_errors(model, doc):
        advice = next((w for keys, w in LIBRARY_RULES if all(k in line for k in keys)), None)
        (warnings if advice else errors).append(advice or line)
    return errors, warnings


def describe_errors(model: type[pydantic.BaseModel], doc: Mapping[str, Any]) -> list[str]:
    """Validate ``doc``; pydantic's findings as "json.path: message" lines."""
    try:
        with pywarnings.catch_warnings():
            # ome-zarr-models warns when it fills in defaults; the record says what was served.
            pywarnings.simplefilter("ignore")
            model.model_validate(doc, strict=False)
    except pydantic.ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            path = ".".join(str(p) for p in err["loc"]) or "(document)"
            lines.append(f"{path}: {err['msg']}")
        return lines
    except (ValueError, TypeError, RecursionError) as e:
        return [f"(document): {e}"[:300]]
    return []
