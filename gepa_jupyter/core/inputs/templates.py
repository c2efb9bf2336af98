"""`{{variable}}` placeholders of MLflow prompt templates."""

import re

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_variables(template: str) -> list[str]:
    """The variables of a template, in order of first appearance, without repeats."""
    return list(dict.fromkeys(VARIABLE.findall(template)))


def variable_mismatch(expected: list[str], text: str) -> tuple[list[str], list[str]]:
    """(missing, invented): variables of `expected` absent from `text`, and new ones in it."""
    found = template_variables(text)
    missing = [v for v in expected if v not in found]
    invented = [v for v in found if v not in expected]
    return missing, invented


def fill(template: str, values: dict) -> str:
    """Fill a template's variables from `values` (unknown placeholders are left alone)."""
    return VARIABLE.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)
