"""The plan of any indicator: named standard calculators plan themselves (indicators.calculators),
every other formula kind is planned by indicators.plan, with its rollup form where it has one
(indicators.case_rollup). One entry point, so the engine need not know which is which, and plan.py need
not import the calculators that build on it."""
from __future__ import annotations

from indicators import calculators, case_rollup, plan
from indicators.plan import Options, Plan
from indicators.schema import Indicator


def plan_for(ind: Indicator, opts: Options) -> Plan:
    if ind.formula.kind == "standard":
        return calculators.plan(ind, opts)
    out = plan.plan_for(ind, opts)
    out.rollup = case_rollup.rollup_form(ind, opts)
    return out
