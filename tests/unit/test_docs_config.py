"""docs/configuration.md carries every config key exactly as the schema defines it."""
import dataclasses
from pathlib import Path

from edge.config import reference

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_page_is_the_generated_reference():
    page = (ROOT / "docs" / "configuration.md").read_text()
    start, end = page.index(reference.BEGIN), page.index(reference.END) + len(reference.END)
    assert page[start:end] + "\n" == reference.render(), \
        "docs/configuration.md is stale: regenerate its block with `python -m edge.config.reference`"


def test_every_schema_key_is_listed():
    text = reference.render()
    for heading, cls in reference.SECTIONS:
        block = text.split(f"### `{heading}`", 1)[1].split("###", 1)[0]
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in block, f"{heading}.{f.name} missing from the reference"


def test_every_section_of_the_schema_is_in_the_reference():
    from edge.config import schema
    sections = {cls for _, cls in reference.SECTIONS}
    defined = {obj for name, obj in vars(schema).items()
               if dataclasses.is_dataclass(obj) and name.endswith("Config") and name != "Config"}
    assert defined == sections, f"sections missing from the reference: {defined - sections}"
